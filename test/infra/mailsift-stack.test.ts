import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { App, Aspects, Duration } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadRulesets } from '../../functions/rules/load.ts';
import type { Ruleset } from '../../functions/rules/schema.ts';
import { MailsiftStack, type MailsiftStackProps } from '../../infra/mailsift-stack.ts';

const bundleDir = mkdtempSync(join(tmpdir(), 'mailsift-stack-bundle-'));
let rulesets: Ruleset[];
let stack: MailsiftStack;
let template: Template;

function synth(props: Partial<MailsiftStackProps> = {}): { stack: MailsiftStack; template: Template } {
  const app = new App();
  const built = new MailsiftStack(app, 'Mailsift', { rulesets, bundleDir, ...props });
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

before(() => {
  rulesets = loadRulesets(['rules']);
  ({ stack, template } = synth());
});

describe('MailsiftStack', () => {
  it('schedules every rule file with its expression, time zone and input', () => {
    template.resourceCountIs('AWS::Scheduler::Schedule', rulesets.length);
    for (const ruleset of rulesets) {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: ruleset.schedule,
        ScheduleExpressionTimezone: ruleset.timezone ?? 'Etc/UTC',
        State: 'ENABLED',
        Target: Match.objectLike({
          Input: JSON.stringify({ ruleset: ruleset.name }),
          RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 3 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DeadLetterQueue'), 'Arn'] } },
        }),
      });
    }
  });

  it("keeps the runs' state in one DynamoDB table: pk/sk, TTL, point-in-time recovery, encrypted, retained", () => {
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
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
          Match.objectLike({
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          }),
        ],
      }),
    });
  });

  it("lets each function read and write the state table's items, and nothing else of it", () => {
    const table = { 'Fn::GetAtt': [Match.stringLikeRegexp('^StateTable'), 'Arn'] };
    const accounts = new Set(rulesets.map((ruleset) => ruleset.account));
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: {
        PolicyDocument: {
          Statement: Match.arrayWith([
            {
              Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query'],
              Effect: 'Allow',
              Resource: table,
            },
          ]),
        },
      },
    });
    assert.equal(Object.keys(policies).length, accounts.size);
    template.allResourcesProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ MAILSIFT_STATE_TABLE: { Ref: Match.stringLikeRegexp('^StateTable') } }),
      },
    });
  });

  it('runs one arm64 nodejs22.x function per account, one run at a time, with a DLQ', () => {
    const accounts = new Set(rulesets.map((ruleset) => ruleset.account));
    template.resourceCountIs('AWS::Lambda::Function', accounts.size);
    for (const account of accounts) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: 512,
        Timeout: 300,
        ReservedConcurrentExecutions: 1,
        DeadLetterConfig: {
          TargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DeadLetterQueue'), 'Arn'] },
        },
        Environment: {
          Variables: Match.objectLike({ MAILSIFT_ACCOUNT: account, MAILSIFT_PARAMETER_PREFIX: '/mailsift' }),
        },
      });
    }
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 2 });
  });

  it('lets each function read exactly the parameters its rule files reference', () => {
    const policies = template.findResources('AWS::IAM::Policy');
    const ssmResources = (policyId: string) =>
      (
        (policies[policyId]?.Properties.PolicyDocument.Statement ?? []) as {
          Action: string | string[];
          Resource: unknown;
        }[]
      )
        .filter((statement) => statement.Action === 'ssm:GetParameter')
        .flatMap((statement) => [statement.Resource].flat());
    const ops = Object.keys(policies).find((id) => id.startsWith('OpsRole'));
    const billing = Object.keys(policies).find((id) => id.startsWith('BillingRole'));
    assert.ok(ops && billing);
    assert.deepEqual(ssmResources(ops), [
      parameterArn('/mailsift/accounts/ops'),
      parameterArn('/mailsift/webhooks/ops'),
      parameterArn('/mailsift/webhooks/ops-secret'),
    ]);
    assert.deepEqual(ssmResources(billing), [parameterArn('/mailsift/accounts/billing')]);
    // No statement anywhere grants an action on every resource.
    for (const policy of Object.values(policies)) {
      for (const statement of policy.Properties.PolicyDocument.Statement)
        assert.notEqual(statement.Resource, '*');
    }
    assert.ok(!JSON.stringify(policies).includes('kms:'), 'aws/ssm needs no kms grant');
  });

  it('lets an OAuth2 account write back exactly its refresh-token parameter, and no other account', () => {
    const { template: oauth } = synth({ oauth2Accounts: ['billing'] });
    const policies = oauth.findResources('AWS::IAM::Policy');
    const puts = (prefix: string) =>
      Object.entries(policies)
        .filter(([id]) => id.startsWith(prefix))
        .flatMap(
          ([, policy]) =>
            policy.Properties.PolicyDocument.Statement as { Action: unknown; Resource: unknown }[],
        )
        .filter((statement) => [statement.Action].flat().includes('ssm:PutParameter'));
    assert.deepEqual(puts('BillingRole'), [
      {
        Action: ['ssm:GetParameter', 'ssm:PutParameter'],
        Effect: 'Allow',
        Resource: parameterArn('/mailsift/oauth/billing/refresh-token'),
      },
    ]);
    assert.deepEqual(puts('OpsRole'), []);
    assert.ok(
      !JSON.stringify(template.findResources('AWS::IAM::Policy')).includes('ssm:PutParameter'),
      'none by default',
    );
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

  it('encrypts the DLQ, keeps logs for a month and alarms on errors and dead letters', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 1_209_600,
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 1,
    });
    template.resourceCountIs('AWS::CloudWatch::Alarm', 1 + new Set(rulesets.map((r) => r.account)).size);
    template.resourceCountIs('AWS::SNS::Topic', 0);
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
    const errors = Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*'));
    assert.deepEqual(
      errors.map((e) => `${e.id}: ${e.entry.data}`),
      [],
    );
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
      /MailsiftStack: timeout must be between 30 seconds and 15 minutes/,
    );
    assert.throws(
      () => synth({ alarmEmail: 'nobody' }),
      /MailsiftStack: alarmEmail must be an email address/,
    );
    assert.throws(
      () => new MailsiftStack(new App(), 'X', { rulesets: [], bundleDir }),
      /rulesets must name at least one ruleset/,
    );
  });
});
