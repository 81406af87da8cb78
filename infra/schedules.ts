import { Aws, Duration, TimeZone } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import {
  ContextAttribute,
  Schedule,
  ScheduleExpression,
  ScheduleTargetInput,
} from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import type { FleetManifest } from '../functions/fleet/manifest.ts';
import { idOf } from './names.ts';

/**
 * One schedule per distinct (expression, time zone) of the rule files, however many files and accounts share it.
 * Each tick invokes the dispatcher with the schedule's key and Scheduler's scheduled time, which stays the same on
 * Scheduler's retries: the runs' deduplication ids come from it.
 */
export function fleetSchedules(
  scope: Construct,
  manifest: FleetManifest,
  dispatcher: IFunction,
  failedTicks: Queue,
): Schedule[] {
  const role = new Role(scope, 'SchedulerRole', {
    assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
      conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
    }),
    description: 'EventBridge Scheduler: invoke the mailsift dispatcher',
  });
  const schedules = Object.entries(manifest.schedules).map(([key, names]) => {
    const { schedule, timezone } = manifest.ruleFiles[names[0] as string] ?? {};
    return new Schedule(scope, `Schedule${idOf(key)}`, {
      description: `mailsift ${key}: ${names.length} rule file(s)`.slice(0, 512),
      schedule: ScheduleExpression.expression(
        schedule as string,
        timezone ? TimeZone.of(timezone) : undefined,
      ),
      target: new LambdaInvoke(dispatcher, {
        role,
        input: ScheduleTargetInput.fromObject({
          schedule: key,
          scheduledTime: ContextAttribute.scheduledTime,
        }),
        deadLetterQueue: failedTicks,
        retryAttempts: 3,
        // A tick that could not be delivered within an hour is superseded by a later one.
        maxEventAge: Duration.hours(1),
      }),
    });
  });
  // After the schedules: their targets add the role's policy, which the suppression must cover.
  NagSuppressions.addResourceSuppressions(
    role,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'lambda:InvokeFunction on the dispatcher and its versions (<arn>:*), as grantInvoke writes it.',
        appliesTo: [{ regex: '/^Resource::<.*Function.*\\.Arn>:\\*$/g' }],
      },
    ],
    true,
  );
  return schedules;
}
