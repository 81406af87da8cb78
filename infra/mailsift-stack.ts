import { join } from 'node:path';
import { Aws, Duration, RemovalPolicy, Stack, type StackProps, TimeZone } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { AttributeType, Billing, TableEncryptionV2, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Architecture, Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { ACTIONS } from '../functions/engine/actions/index.ts';
import type { Ruleset } from '../functions/rules/schema.ts';
import { accountParameterName, refreshTokenParameterName } from '../functions/secrets/ssm.ts';
import { STATE_TABLE_KEYS } from '../functions/state/dynamodb-store.ts';
import { bundleHandler } from './bundle.ts';

export interface MailsiftStackProps extends StackProps {
  /** Validated rulesets (from `loadRulesets`); one schedule each. */
  readonly rulesets: readonly Ruleset[];
  /** Where bundles are written before upload. @default `cdk.out/mailsift-bundle` */
  readonly bundleDir?: string;
  /** Parameter Store prefix of the account parameters. @default '/mailsift' */
  readonly parameterPrefix?: string;
  /** KMS key that encrypts the SecureStrings, when not the AWS-managed aws/ssm key. @default aws/ssm */
  readonly parameterKeyArn?: string;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default Duration.minutes(5) */
  readonly timeout?: Duration;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** Alarms notify this address through an SNS topic. @default no topic (alarms only) */
  readonly alarmEmail?: string;
  /**
   * Reserve a concurrency of 1 per account function, so runs of one account never overlap. Turn off only on
   * AWS accounts whose concurrency quota cannot spare the reservation. @default true
   */
  readonly reserveConcurrency?: boolean;
  /**
   * Accounts that sign in with OAuth2 and a refresh token: their function may read and overwrite exactly
   * `<prefix>/oauth/<account>/refresh-token` (a rotated token is written back). @default none
   */
  readonly oauth2Accounts?: readonly string[];
}

/** Every `{ parameter }` a ruleset's actions read at run time, as each action's definition names them. */
function referencedParameters(ruleset: Ruleset): string[] {
  return ruleset.rules.flatMap((rule) =>
    rule.actions.flatMap((action) =>
      ACTIONS.flatMap((definition) => {
        const params = Object.entries(action).find(([key]) => key === definition.key)?.[1];
        return params === undefined ? [] : definition.parameters(params);
      }),
    ),
  );
}

/** A construct id from a ruleset or account name (letters, digits, `-`, `_`, `.`). */
function idOf(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]?.toUpperCase() + part.slice(1))
    .join('');
}

/**
 * mailsift on AWS: per IMAP account one Lambda function (one shared bundle) with a concurrency of 1, so runs
 * of the same account never overlap; per ruleset one EventBridge Scheduler schedule; one DynamoDB state table;
 * one encrypted DLQ; alarms on errors and on the DLQ.
 */
export class MailsiftStack extends Stack {
  constructor(scope: Construct, id: string, props: MailsiftStackProps) {
    super(scope, id, props);
    if (props.rulesets.length === 0)
      throw new Error('MailsiftStack: rulesets must name at least one ruleset');
    const memorySize = props.memorySize ?? 512;
    if (!Number.isInteger(memorySize) || memorySize < 128 || memorySize > 10_240) {
      throw new Error(
        `MailsiftStack: memorySize must be a whole number of MB from 128 to 10240, got ${memorySize}`,
      );
    }
    const timeout = props.timeout ?? Duration.minutes(5);
    if (timeout.toSeconds() < 30 || timeout.toSeconds() > 900) {
      throw new Error('MailsiftStack: timeout must be between 30 seconds and 15 minutes');
    }
    const prefix = props.parameterPrefix ?? '/mailsift';
    if (!/^\/[\w./-]*[^/]$/.test(prefix))
      throw new Error(`MailsiftStack: parameterPrefix must look like /mailsift, got ${prefix}`);

    const bundle = bundleHandler(props.rulesets, props.bundleDir ?? join('cdk.out', 'mailsift-bundle'));
    const code = Code.fromAsset(bundle.dir);

    // SSE-SQS rather than the AWS-managed KMS key: EventBridge Scheduler cannot use aws/sqs to send.
    const deadLetters = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    NagSuppressions.addResourceSuppressions(deadLetters, [
      {
        id: 'AwsSolutions-SQS3',
        reason: 'This queue is the dead-letter queue of the schedules and functions.',
      },
    ]);

    const stateTable = this.stateTable();
    const topic = props.alarmEmail ? this.alarmTopic(props.alarmEmail) : undefined;
    const alarmOn = (alarm: Alarm) => {
      if (topic) alarm.addAlarmAction(new SnsAction(topic));
    };
    alarmOn(
      new Alarm(this, 'DeadLettersAlarm', {
        alarmDescription:
          'mailsift: a scheduled run could not be delivered or failed after retries (see the DLQ).',
        metric: deadLetters.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );

    const accounts = [...new Set(props.rulesets.map((ruleset) => ruleset.account))].sort();
    for (const account of accounts) {
      const rulesets = props.rulesets.filter((ruleset) => ruleset.account === account);
      const fn = this.accountFunction(account, rulesets, {
        code,
        stateTable,
        deadLetters,
        memorySize,
        timeout,
        prefix,
        props,
      });
      alarmOn(
        new Alarm(this, `${idOf(account)}ErrorsAlarm`, {
          alarmDescription: `mailsift: a run for account ${account} failed (see its log group).`,
          metric: fn.metricErrors({ period: Duration.minutes(5) }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
      // One role for this account's schedules: invoke this function, send to the DLQ.
      const schedulerRole = new Role(this, `${idOf(account)}SchedulerRole`, {
        assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
          conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
        }),
        description: `EventBridge Scheduler: start mailsift runs for account ${account}`,
      });
      for (const ruleset of rulesets) {
        new Schedule(this, `${idOf(ruleset.name)}Schedule`, {
          description: `mailsift ruleset ${ruleset.name} (account ${account})`,
          schedule: ScheduleExpression.expression(
            ruleset.schedule,
            ruleset.timezone ? TimeZone.of(ruleset.timezone) : undefined,
          ),
          target: new LambdaInvoke(fn, {
            role: schedulerRole,
            input: ScheduleTargetInput.fromObject({ ruleset: ruleset.name }),
            deadLetterQueue: deadLetters,
            retryAttempts: 3,
            // A run that could not start within an hour is superseded by a later scheduled one.
            maxEventAge: Duration.hours(1),
          }),
        });
      }
      // After the schedules: their targets add the role's policy, which the suppression must cover.
      NagSuppressions.addResourceSuppressions(
        schedulerRole,
        [
          {
            id: 'AwsSolutions-IAM5',
            reason:
              'lambda:InvokeFunction on this function and its versions (<arn>:*), as grantInvoke writes it.',
            appliesTo: [{ regex: '/^Resource::<.*Function.*\\.Arn>:\\*$/g' }],
          },
        ],
        true,
      );
    }
  }

  private accountFunction(
    account: string,
    rulesets: readonly Ruleset[],
    shared: {
      code: Code;
      stateTable: TableV2;
      deadLetters: Queue;
      memorySize: number;
      timeout: Duration;
      prefix: string;
      props: MailsiftStackProps;
    },
  ): LambdaFunction {
    const id = idOf(account);
    const logGroup = new LogGroup(this, `${id}Logs`, {
      retention: shared.props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // A role of our own instead of AWSLambdaBasicExecutionRole: logs only to this group.
    const role = new Role(this, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `mailsift runs for IMAP account ${account}`,
    });
    role.addToPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn, `${logGroup.logGroupArn}:log-stream:*`],
      }),
    );
    NagSuppressions.addResourceSuppressions(
      role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Log stream names are chosen by Lambda at run time; the grant is limited to this log group.',
          appliesTo: [{ regex: '/^Resource::<.*Logs.*\\.Arn>:log-stream:\\*$/g' }],
        },
      ],
      true,
    );
    const parameters = [
      accountParameterName(shared.prefix, account),
      ...new Set(rulesets.flatMap(referencedParameters)),
    ].sort();
    role.addToPolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['ssm:GetParameter'],
        resources: parameters.map(
          (name) => `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter${name}`,
        ),
      }),
    );
    if (shared.props.oauth2Accounts?.includes(account)) {
      // The one parameter a rotated refresh token is written back to (secrets/ssm.ts names it).
      role.addToPolicy(
        new PolicyStatement({
          actions: ['ssm:GetParameter', 'ssm:PutParameter'],
          resources: [
            `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter${refreshTokenParameterName(shared.prefix, account)}`,
          ],
        }),
      );
    }
    // The state table, items only (no scans, no table administration).
    role.addToPolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query'],
        resources: [shared.stateTable.tableArn],
      }),
    );
    // SecureStrings under the AWS-managed aws/ssm key need no IAM grant (its key policy allows use through
    // SSM within the account); a customer key is named and granted explicitly.
    if (shared.props.parameterKeyArn) {
      role.addToPolicy(
        new PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [shared.props.parameterKeyArn],
          conditions: { StringEquals: { 'kms:ViaService': `ssm.${Aws.REGION}.amazonaws.com` } },
        }),
      );
    }
    const fn: LambdaFunction = new LambdaFunction(this, `${id}Function`, {
      description: `mailsift: rulesets of IMAP account ${account}`,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      handler: 'index.handler',
      code: shared.code,
      memorySize: shared.memorySize,
      timeout: shared.timeout,
      role,
      logGroup,
      environment: {
        MAILSIFT_ACCOUNT: account,
        MAILSIFT_PARAMETER_PREFIX: shared.prefix,
        MAILSIFT_STATE_TABLE: shared.stateTable.tableName,
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: 'mailsift',
      },
      // IMAP servers cap connections per account, and two runs of one account would race for the same
      // messages: one run at a time. Throttled scheduled invocations wait in Lambda's async queue.
      ...(shared.props.reserveConcurrency === false ? {} : { reservedConcurrentExecutions: 1 }),
      deadLetterQueue: shared.deadLetters,
      retryAttempts: 2,
    });
    NagSuppressions.addResourceSuppressions(fn, [
      {
        id: 'AwsSolutions-L1',
        reason:
          'nodejs22.x is the runtime mailsift is built and tested for (its CI runs Node 20 and 22 semantics); ' +
          'move to a newer runtime together with CI.',
      },
    ]);
    return fn;
  }

  /**
   * What the runs remember (leases, copy journal, deliveries, pending expunges): one table, the account in the
   * partition key, records expiring by TTL; point-in-time recovery, encrypted, kept when the stack is deleted.
   */
  private stateTable(): TableV2 {
    return new TableV2(this, 'StateTable', {
      partitionKey: { name: STATE_TABLE_KEYS.partition, type: AttributeType.STRING },
      sortKey: { name: STATE_TABLE_KEYS.sort, type: AttributeType.STRING },
      timeToLiveAttribute: STATE_TABLE_KEYS.ttl,
      billing: Billing.onDemand(),
      encryption: TableEncryptionV2.awsManagedKey(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  private alarmTopic(email: string): Topic {
    if (!/^[^@\s]+@[^@\s]+$/.test(email))
      throw new Error(`MailsiftStack: alarmEmail must be an email address, got ${email}`);
    const key = new Key(this, 'AlarmTopicKey', {
      enableKeyRotation: true,
      description: 'mailsift alarm topic',
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // CloudWatch alarms publish to the encrypted topic.
    key.grantEncryptDecrypt(new ServicePrincipal('cloudwatch.amazonaws.com'));
    const topic = new Topic(this, 'AlarmTopic', { masterKey: key, enforceSSL: true });
    topic.addSubscription(new EmailSubscription(email));
    return topic;
  }
}
