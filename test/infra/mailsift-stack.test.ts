import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { App, Aspects, Duration } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadRuleFiles } from '../../functions/rules/load.ts';
import type { RuleFile } from '../../functions/rules/schema.ts';
import { MailsiftStack, type MailsiftStackProps } from '../../infra/mailsift-stack.ts';
import { fleetRuleFiles } from '../helpers/fleet.ts';

const bundleDir = mkdtempSync(join(tmpdir(), 'mailsift-stack-bundle-'));
let ruleFiles: RuleFile[];
let stack: MailsiftStack;
let template: Template;

function synth(props: Partial<MailsiftStackProps> = {}): { stack: MailsiftStack; template: Template } {
  const app = new App();
  const built = new MailsiftStack(app, 'Mailsift', { ruleFiles, bundleDir, ...props });
  Aspects.of(app).add(new AwsSolutionsChecks());
  return { stack: built, template: Template.fromStack(built) };
}

/** `arn:<partition>:ssm:<region>:<account>:parameter<name>` as the template spells it. */
const parameterArn = (name: string) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':ssm:',
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      `:parameter${name}`,
    ],
  ],
});

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };
/** The statements of the policy attached to the role whose logical id starts with `role`. */
function statementsOf(t: Template, role: string): Statement[] {
  return Object.entries(t.findResources('AWS::IAM::Policy'))
    .filter(([id]) => id.startsWith(`${role}RoleDefaultPolicy`))
    .flatMap(([, policy]) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

const nagErrors = (s: MailsiftStack) =>
  Annotations.fromStack(s)
    .findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))
    .map((e) => `${e.id}: ${e.entry.data}`);

before(() => {
  ruleFiles = loadRuleFiles(['rules']);
  ({ stack, template } = synth());
});

describe('MailsiftStack', () => {
  it('has one schedule per distinct expression and time zone, each invoking the dispatcher with its key and time', () => {
    const keys = new Set(ruleFiles.map((file) => `${file.schedule} ${file.timezone ?? ''}`));
    template.resourceCountIs('AWS::Scheduler::Schedule', keys.size);
    for (const file of ruleFiles) {
      const key = file.timezone ? `${file.schedule} ${file.timezone}` : file.schedule;
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: file.schedule,
        ScheduleExpressionTimezone: file.timezone ?? 'Etc/UTC',
        State: 'ENABLED',
        Target: Match.objectLike({
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DispatcherFunction'), 'Arn'] },
          Input: JSON.stringify({ schedule: key, scheduledTime: '<aws.scheduler.scheduled-time>' }),
          RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 3 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^FailedTicksQueue'), 'Arn'] } },
        }),
      });
    }
  });

  it('queues runs on a high-throughput FIFO queue with a FIFO DLQ, a visibility of six function timeouts', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      FifoQueue: true,
      ContentBasedDeduplication: false,
      DeduplicationScope: 'messageGroup',
      FifoThroughputLimit: 'perMessageGroupId',
      VisibilityTimeout: 6 * 300,
      MessageRetentionPeriod: 86_400,
      SqsManagedSseEnabled: true,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^FailedRunsQueue'), 'Arn'] },
        maxReceiveCount: 3,
      },
    });
    template.hasResourceProperties('AWS::SQS::Queue', { FifoQueue: true, MessageRetentionPeriod: 1_209_600 });
    // The tick DLQ is a standard queue: Scheduler and Lambda's async invocations cannot use a FIFO one.
    template.hasResourceProperties('AWS::SQS::Queue', {
      FifoQueue: Match.absent(),
      MessageRetentionPeriod: 1_209_600,
    });
    template.resourceCountIs('AWS::SQS::Queue', 3);
    template.resourcePropertiesCountIs(
      'AWS::SQS::QueuePolicy',
      {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      },
      3,
    );
  });

  it('runs one worker from the queue: batch size 1, reported batch item failures, a maximum concurrency', () => {
    template.resourceCountIs('AWS::Lambda::Function', 2);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^RunsQueue'), 'Arn'] },
      FunctionName: { Ref: Match.stringLikeRegexp('^WorkerFunction') },
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 10 },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'worker.handler',
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      MemorySize: 512,
      Timeout: 300,
      ReservedConcurrentExecutions: Match.absent(),
      Environment: {
        Variables: Match.objectLike({
          MAILSIFT_PARAMETER_PREFIX: '/mailsift',
          MAILSIFT_STATE_TABLE: { Ref: Match.stringLikeRegexp('^StateTable') },
          MAILSIFT_QUEUE_URL: { Ref: Match.stringLikeRegexp('^RunsQueue') },
        }),
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'dispatcher.handler',
      Timeout: 120,
      DeadLetterConfig: { TargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^FailedTicksQueue'), 'Arn'] } },
      Environment: {
        Variables: Match.objectLike({ MAILSIFT_QUEUE_URL: { Ref: Match.stringLikeRegexp('^RunsQueue') } }),
      },
    });
    const custom = synth({ maxConcurrency: 50 }).template;
    custom.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 1,
      ScalingConfig: { MaximumConcurrency: 50 },
    });
  });

  it("keeps the runs' state in one DynamoDB table, as before the fleet shape: same id, retained", () => {
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
    const [id] = Object.keys(template.findResources('AWS::DynamoDB::GlobalTable'));
    assert.match(id ?? '', /^StateTable[0-9A-F]{8}$/);
    template.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        SSESpecification: Match.objectLike({ SSEEnabled: true }),
        Replicas: [
          Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }),
        ],
      }),
    });
  });

  it('grants the worker account parameters by prefix, the named webhook parameters, the table; the dispatcher the queue', () => {
    const worker = statementsOf(template, 'Worker');
    assert.deepEqual(
      worker
        .filter((statement) => statement.Action === 'ssm:GetParameter')
        .flatMap((s) => [s.Resource].flat()),
      [
        parameterArn('/mailsift/accounts/*'),
        parameterArn('/mailsift/webhooks/ops'),
        parameterArn('/mailsift/webhooks/ops-secret'),
      ],
    );
    assert.ok(
      worker.some(
        (statement) =>
          JSON.stringify(statement.Action) ===
            JSON.stringify([
              'dynamodb:GetItem',
              'dynamodb:UpdateItem',
              'dynamodb:DeleteItem',
              'dynamodb:Query',
            ]) && JSON.stringify(statement.Resource).includes('StateTable'),
      ),
    );
    assert.ok(
      worker.some((s) => [s.Action].flat().includes('sqs:ChangeMessageVisibility')),
      'the worker may shorten a retry',
    );
    const dispatcher = statementsOf(template, 'Dispatcher');
    assert.deepEqual(
      dispatcher.filter((s) => JSON.stringify(s.Resource).includes('RunsQueue')).map((s) => s.Action),
      [['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl']],
    );
    assert.ok(!JSON.stringify(dispatcher).includes('ssm:'), 'the dispatcher reads no secret');
    for (const policy of Object.values(template.findResources('AWS::IAM::Policy')))
      for (const statement of policy.Properties.PolicyDocument.Statement)
        assert.notEqual(statement.Resource, '*');
    assert.ok(
      !JSON.stringify(template.findResources('AWS::IAM::Policy')).includes('ssm:PutParameter'),
      'none by default',
    );
    assert.ok(
      !JSON.stringify(template.findResources('AWS::IAM::Policy')).includes('kms:'),
      'aws/ssm needs no kms grant',
    );
  });

  it('lets the worker write back OAuth2 refresh tokens by their prefix when oauth2 is on, and shows token failures', () => {
    const oauth = synth({ oauth2: true }).template;
    assert.deepEqual(
      statementsOf(oauth, 'Worker').filter((s) => [s.Action].flat().includes('ssm:PutParameter')),
      [
        {
          Action: ['ssm:GetParameter', 'ssm:PutParameter'],
          Effect: 'Allow',
          Resource: parameterArn('/mailsift/oauth/*/refresh-token'),
        },
      ],
    );
    const body = (t: Template) =>
      JSON.stringify(Object.values(t.findResources('AWS::CloudWatch::Dashboard')));
    assert.match(body(oauth), /tokenFailures/);
    assert.doesNotMatch(body(template), /tokenFailures/);
  });

  it('grants kms:Decrypt only on a key the user names, and only through SSM', () => {
    const keyArn = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    synth({ parameterKeyArn: keyArn }).template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'kms:Decrypt',
            Resource: keyArn,
            Condition: {
              StringEquals: {
                'kms:ViaService': { 'Fn::Join': ['', ['ssm.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
              },
            },
          }),
        ]),
      },
    });
  });

  it('alarms on both DLQs, the oldest queued run, failed runs and function errors; logs kept a month', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
      (alarm) => alarm.Properties as Record<string, unknown>,
    );
    const by = (metric: string) => alarms.filter((alarm) => alarm.MetricName === metric);
    assert.equal(by('ApproximateNumberOfMessagesVisible').length, 2);
    assert.deepEqual(
      by('ApproximateAgeOfOldestMessage').map((a) => [a.Threshold, a.Statistic, a.EvaluationPeriods]),
      [[1800, 'Maximum', 2]],
    );
    assert.deepEqual(
      by('failedRuns').map((a) => [a.Namespace, a.Dimensions, a.Threshold, a.Period]),
      [['mailsift', [{ Name: 'service', Value: 'mailsift' }], 1, 900]],
    );
    assert.equal(by('Errors').length, 2);
    assert.equal(alarms.length, 6);
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    template.resourceCountIs('AWS::SNS::Topic', 0);
  });

  it('has a dashboard of runs, failures, durations, per-ruleset counts, the queues and DLQs', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard')));
    for (const expected of [
      '\\"runs\\"',
      '\\"failedRuns\\"',
      '\\"superseded\\"',
      '\\"runDuration\\"',
      '\\"stat\\":\\"p50\\"',
      '\\"stat\\":\\"p95\\"',
      'MetricName=\\\\\\"matched\\\\\\"',
      'MetricName=\\\\\\"acted\\\\\\"',
      'ApproximateAgeOfOldestMessage',
      'ApproximateNumberOfMessagesVisible',
    ])
      assert.ok(body.includes(expected), expected);
  });

  it('sends alarms to an encrypted SNS topic with an email subscription when alarmEmail is set', () => {
    const { template: withEmail } = synth({ alarmEmail: 'ops@example.com' });
    withEmail.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
    withEmail.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    withEmail.allResourcesProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^AlarmTopic') }],
    });
  });

  it('passes the AwsSolutions checks, every suppression with a reason', () => {
    assert.deepEqual(nagErrors(stack), []);
    assert.deepEqual(nagErrors(synth({ oauth2: true, alarmEmail: 'ops@example.com' }).stack), []);
    const suppressions = Object.values(
      template.toJSON().Resources as Record<
        string,
        { Metadata?: { cdk_nag?: { rules_to_suppress: { reason: string }[] } } }
      >,
    ).flatMap((resource) => resource.Metadata?.cdk_nag?.rules_to_suppress ?? []);
    assert.ok(suppressions.length > 0);
    for (const suppression of suppressions)
      assert.ok(suppression.reason.length >= 20, JSON.stringify(suppression));
  });

  it('refuses bad props with a message naming the prop', () => {
    assert.throws(
      () => synth({ memorySize: 64 }),
      /MailsiftStack: memorySize must be a whole number of MB from 128 to 10240, got 64/,
    );
    assert.throws(
      () => synth({ timeout: Duration.seconds(5) }),
      /MailsiftStack: timeout must be between 1 and 15 minutes/,
    );
    assert.throws(
      () => synth({ maxConcurrency: 1 }),
      /MailsiftStack: maxConcurrency must be a whole number from 2 to 1000, got 1/,
    );
    assert.throws(
      () => synth({ alarmEmail: 'nobody' }),
      /MailsiftStack: alarmEmail must be an email address/,
    );
    assert.throws(
      () => new MailsiftStack(new App(), 'X', { ruleFiles: [], bundleDir }),
      /ruleFiles must name at least one rule file/,
    );
  });
});

describe('MailsiftStack for a fleet of 5,000 accounts × 2 rule files', () => {
  let fleet: { stack: MailsiftStack; template: Template };
  before(() => {
    fleet = synth({ ruleFiles: [...ruleFiles, ...fleetRuleFiles(5_000, 2)], oauth2: true });
  });

  it('stays under 60 resources: nothing in it is per account, schedules are per expression', () => {
    const resources = Object.values(fleet.template.toJSON().Resources as Record<string, { Type: string }>);
    assert.ok(resources.length < 60, `${resources.length} resources`);
    assert.equal(
      resources.length,
      Object.keys(template.toJSON().Resources).length,
      'as many as the shipped set',
    );
    // The fleet's two files share the shipped rate(15 minutes) and rate(5 minutes): no schedule more.
    fleet.template.resourceCountIs('AWS::Scheduler::Schedule', 4);
    fleet.template.resourceCountIs('AWS::Lambda::Function', 2);
  });

  it("keeps every policy well under IAM's 10,240 characters, with no * where a prefix does", () => {
    for (const policy of Object.values(fleet.template.findResources('AWS::IAM::Policy'))) {
      const document = JSON.stringify(policy.Properties.PolicyDocument);
      assert.ok(document.length < 4_000, `${document.length} characters`);
      for (const statement of policy.Properties.PolicyDocument.Statement)
        assert.notEqual(statement.Resource, '*');
    }
    assert.deepEqual(nagErrors(fleet.stack), []);
  });

  it('refuses rule files naming more parameters than a policy can list', () => {
    assert.throws(
      () => synth({ ruleFiles: fleetRuleFiles(1, 61, { webhookPerFile: true }) }),
      /the rule files name 61 parameters \(at most 60/,
    );
  });
});
