import { join } from 'node:path';
import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { AttributeType, Billing, TableEncryptionV2, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Code } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { fleetManifest } from '../functions/fleet/manifest.ts';
import type { RuleFile } from '../functions/rules/schema.ts';
import { STATE_TABLE_KEYS } from '../functions/state/dynamodb-store.ts';
import { fleetAlarms } from './alarms.ts';
import { bundleFleet } from './bundle.ts';
import { fleetDashboard } from './dashboard.ts';
import { dispatcherFunction, workerFunction } from './fleet-functions.ts';
import { parameterGrants } from './parameter-grants.ts';
import { fleetQueues } from './queues.ts';
import { fleetSchedules } from './schedules.ts';

export interface MailsiftStackProps extends StackProps {
  /** Validated rule files (from `loadRuleFiles`), each with its accounts. */
  readonly ruleFiles: readonly RuleFile[];
  /** Where bundles are written before upload. @default `cdk.out/mailsift-bundle` */
  readonly bundleDir?: string;
  /** Parameter Store prefix of the account parameters. @default '/mailsift' */
  readonly parameterPrefix?: string;
  /** KMS key that encrypts the SecureStrings, when not the AWS-managed aws/ssm key. @default aws/ssm */
  readonly parameterKeyArn?: string;
  /** The worker's memory. @default 512 */
  readonly memorySize?: number;
  /** The worker's timeout: the longest one run may take. @default Duration.minutes(5) */
  readonly timeout?: Duration;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** Alarms notify this address through an SNS topic. @default no topic (alarms only) */
  readonly alarmEmail?: string;
  /**
   * Runs at once across the fleet (the event source mapping's MaximumConcurrency, 2 to 1000): size it against
   * what the IMAP providers allow per client, not per account (each account runs one at a time anyway). @default 10
   */
  readonly maxConcurrency?: number;
  /** Some accounts sign in with OAuth2 and a refresh token, which the worker writes back when rotated. */
  readonly oauth2?: boolean;
  /** A queued run waiting longer than this pages. @default Duration.minutes(30) */
  readonly oldestRunAlarmAge?: Duration;
  /** Failed tries of runs in 15 minutes that page. @default 1 */
  readonly failedRunsAlarmThreshold?: number;
}

function checkProps(props: MailsiftStackProps): void {
  const fail = (message: string) => {
    throw new Error(`MailsiftStack: ${message}`);
  };
  if (props.ruleFiles.length === 0) fail('ruleFiles must name at least one rule file');
  const memorySize = props.memorySize ?? 512;
  if (!Number.isInteger(memorySize) || memorySize < 128 || memorySize > 10_240)
    fail(`memorySize must be a whole number of MB from 128 to 10240, got ${memorySize}`);
  const timeout = (props.timeout ?? Duration.minutes(5)).toSeconds();
  if (timeout < 60 || timeout > 900) fail('timeout must be between 1 and 15 minutes');
  const prefix = props.parameterPrefix ?? '/mailsift';
  if (!/^\/[\w./-]*[^/]$/.test(prefix)) fail(`parameterPrefix must look like /mailsift, got ${prefix}`);
  const concurrency = props.maxConcurrency ?? 10;
  if (!Number.isInteger(concurrency) || concurrency < 2 || concurrency > 1000)
    fail(`maxConcurrency must be a whole number from 2 to 1000, got ${concurrency}`);
}

/**
 * mailsift on AWS, one shape at any size: one schedule per distinct (expression, time zone) invokes the
 * dispatcher, which queues one run per (ruleset, account) on a FIFO queue grouped by account; one worker
 * function runs them, at most `maxConcurrency` at once, one at a time per account. One DynamoDB state table, two
 * dead-letter queues, alarms and a dashboard. Nothing here is per account: the template does not grow with them.
 */
export class MailsiftStack extends Stack {
  constructor(scope: Construct, id: string, props: MailsiftStackProps) {
    super(scope, id, props);
    checkProps(props);
    const timeout = props.timeout ?? Duration.minutes(5);
    const prefix = props.parameterPrefix ?? '/mailsift';
    const manifest = fleetManifest(props.ruleFiles);
    const bundle = bundleFleet(props.ruleFiles, props.bundleDir ?? join('cdk.out', 'mailsift-bundle'));
    const code = Code.fromAsset(bundle.dir);
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;

    const queues = fleetQueues(this, timeout);
    const stateTable = this.stateTable();
    const grants = parameterGrants(props.ruleFiles, prefix, props.oauth2 === true);
    const worker = workerFunction(
      this,
      {
        code,
        logRetention,
        memorySize: props.memorySize ?? 512,
        timeout,
        stateTable,
        prefix,
        parameterArns: grants.readable,
        writableParameterArns: grants.writable,
        parameterKeyArn: props.parameterKeyArn,
        maxConcurrency: props.maxConcurrency ?? 10,
      },
      queues,
    );
    grants.suppress(worker);
    const dispatcher = dispatcherFunction(this, { code, logRetention }, queues);
    fleetSchedules(this, manifest, dispatcher, queues.failedTicks);
    const functions = { worker, dispatcher };
    fleetAlarms(this, queues, functions, {
      topic: props.alarmEmail ? this.alarmTopic(props.alarmEmail) : undefined,
      oldestMessageAge: props.oldestRunAlarmAge ?? Duration.minutes(30),
      failedRunsThreshold: props.failedRunsAlarmThreshold ?? 1,
    });
    fleetDashboard(this, queues, functions, { oauth2: props.oauth2 === true });
  }

  /**
   * What the runs remember (leases, checkpoints, deliveries, journal, ticks): one table, the account in the
   * partition key, records expiring by TTL; point-in-time recovery, encrypted, kept when the stack is deleted.
   * Same construct id as before the fleet shape, so an update keeps the table and everything in it.
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
