import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, type Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import type { FleetQueues } from './queues.ts';

interface FunctionSettings {
  readonly code: Code;
  readonly logRetention: RetentionDays;
}

/** A function with a role of its own (instead of AWSLambdaBasicExecutionRole) that logs only to its own group. */
function fleetFunction(
  scope: Construct,
  id: string,
  settings: FunctionSettings & {
    readonly description: string;
    readonly handler: string;
    readonly memorySize: number;
    readonly timeout: Duration;
    readonly environment: Record<string, string>;
    readonly deadLetterQueue?: Queue;
  },
): LambdaFunction {
  const logGroup = new LogGroup(scope, `${id}Logs`, {
    retention: settings.logRetention,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const role = new Role(scope, `${id}Role`, {
    assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
    description: settings.description,
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
        reason: 'Log stream names are chosen by Lambda at run time; the grant is limited to this log group.',
        appliesTo: [{ regex: '/^Resource::<.*Logs.*\\.Arn>:log-stream:\\*$/g' }],
      },
    ],
    true,
  );
  const fn = new LambdaFunction(scope, `${id}Function`, {
    description: settings.description,
    runtime: Runtime.NODEJS_22_X,
    architecture: Architecture.ARM_64,
    handler: settings.handler,
    code: settings.code,
    memorySize: settings.memorySize,
    timeout: settings.timeout,
    role,
    logGroup,
    environment: {
      ...settings.environment,
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'mailsift',
    },
    ...(settings.deadLetterQueue ? { deadLetterQueue: settings.deadLetterQueue, retryAttempts: 2 } : {}),
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

/** The dispatcher: invoked by the schedules (asynchronously), it only queues runs. */
export function dispatcherFunction(scope: Construct, settings: FunctionSettings, queues: FleetQueues) {
  const fn = fleetFunction(scope, 'Dispatcher', {
    ...settings,
    description: 'mailsift: queues the runs due at a schedule tick, one per (ruleset, account)',
    handler: 'dispatcher.handler',
    memorySize: 256,
    // 10,000 runs are 1,000 batches, ten in flight: seconds; the rest is room for SQS's retries.
    timeout: Duration.minutes(2),
    environment: { MAILSIFT_QUEUE_URL: queues.runs.queueUrl },
    deadLetterQueue: queues.failedTicks,
  });
  queues.runs.grantSendMessages(fn);
  return fn;
}

export interface WorkerSettings extends FunctionSettings {
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly stateTable: TableV2;
  readonly prefix: string;
  /** ARNs of the parameters the function may read (accounts by prefix, webhook parameters by name). */
  readonly parameterArns: readonly string[];
  /** ARNs it may also overwrite (OAuth2 refresh tokens). */
  readonly writableParameterArns: readonly string[];
  readonly parameterKeyArn?: string;
  readonly maxConcurrency: number;
}

/** The worker on the runs queue: one run per message, at most `maxConcurrency` at once across the fleet. */
export function workerFunction(scope: Construct, settings: WorkerSettings, queues: FleetQueues) {
  const fn = fleetFunction(scope, 'Worker', {
    ...settings,
    description: 'mailsift: runs a ruleset on an account, one queued run at a time per account',
    handler: 'worker.handler',
    environment: {
      MAILSIFT_PARAMETER_PREFIX: settings.prefix,
      MAILSIFT_STATE_TABLE: settings.stateTable.tableName,
      MAILSIFT_QUEUE_URL: queues.runs.queueUrl,
    },
  });
  const role = fn.role as Role;
  role.addToPolicy(
    new PolicyStatement({ actions: ['ssm:GetParameter'], resources: [...settings.parameterArns] }),
  );
  if (settings.writableParameterArns.length > 0) {
    role.addToPolicy(
      new PolicyStatement({
        actions: ['ssm:GetParameter', 'ssm:PutParameter'],
        resources: [...settings.writableParameterArns],
      }),
    );
  }
  // The state table, items only (no scans, no table administration).
  role.addToPolicy(
    new PolicyStatement({
      actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query'],
      resources: [settings.stateTable.tableArn],
    }),
  );
  // SecureStrings under the AWS-managed aws/ssm key need no IAM grant (its key policy allows use through SSM
  // within the account); a customer key is named and granted explicitly.
  if (settings.parameterKeyArn) {
    role.addToPolicy(
      new PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [settings.parameterKeyArn],
        conditions: { StringEquals: { 'kms:ViaService': `ssm.${Aws.REGION}.amazonaws.com` } },
      }),
    );
  }
  fn.addEventSource(
    new SqsEventSource(queues.runs, {
      // One run per invocation: a message held back behind another in a batch would count a receive without
      // running, and could reach the DLQ untried (maxReceiveCount); and each run gets the whole timeout.
      batchSize: 1,
      maxConcurrency: settings.maxConcurrency,
      reportBatchItemFailures: true,
    }),
  );
  return fn;
}
