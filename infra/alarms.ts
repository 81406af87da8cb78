import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  type IMetric,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import type { FleetQueues } from './queues.ts';

/** A fleet-wide count the worker publishes (namespace mailsift, dimension service only). */
export function fleetMetric(name: string, statistic = 'Sum', period = Duration.minutes(5)): Metric {
  return new Metric({
    namespace: 'mailsift',
    metricName: name,
    dimensionsMap: { service: 'mailsift' },
    statistic,
    period,
  });
}

export interface AlarmSettings {
  readonly topic?: ITopic;
  /** A message waiting longer than this pages: the fleet has stalled. */
  readonly oldestMessageAge: Duration;
  /** Failed runs (each try) in 15 minutes that page. */
  readonly failedRunsThreshold: number;
}

/** The alarms: what failed for good (both DLQs), what is failing (runs, functions), and a stalled queue. */
export function fleetAlarms(
  scope: Construct,
  queues: FleetQueues,
  functions: { readonly worker: LambdaFunction; readonly dispatcher: LambdaFunction },
  settings: AlarmSettings,
): Alarm[] {
  const alarm = (id: string, description: string, metric: IMetric, threshold: number, periods = 1) => {
    const made = new Alarm(scope, id, {
      alarmDescription: `mailsift: ${description}`,
      metric,
      threshold,
      evaluationPeriods: periods,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    if (settings.topic) made.addAlarmAction(new SnsAction(settings.topic));
    return made;
  };
  const fiveMinutes = { period: Duration.minutes(5) };
  return [
    alarm(
      'FailedRunsQueueAlarm',
      'a run failed every try (see the FailedRunsQueue and the worker log).',
      queues.failedRuns.metricApproximateNumberOfMessagesVisible(fiveMinutes),
      1,
    ),
    alarm(
      'FailedTicksQueueAlarm',
      'a schedule tick could not be dispatched (see the FailedTicksQueue and the dispatcher log).',
      queues.failedTicks.metricApproximateNumberOfMessagesVisible(fiveMinutes),
      1,
    ),
    alarm(
      'OldestRunAlarm',
      `a queued run has waited over ${settings.oldestMessageAge.toMinutes()} minutes: the fleet has stalled or is too slow.`,
      queues.runs.metricApproximateAgeOfOldestMessage({ ...fiveMinutes, statistic: 'Maximum' }),
      settings.oldestMessageAge.toSeconds(),
      2,
    ),
    alarm(
      'FailedRunsAlarm',
      'runs are failing (see the worker log; each try counts).',
      fleetMetric('failedRuns', 'Sum', Duration.minutes(15)),
      settings.failedRunsThreshold,
    ),
    alarm(
      'WorkerErrorsAlarm',
      'the worker crashed or timed out (see its log).',
      functions.worker.metricErrors(fiveMinutes),
      1,
    ),
    alarm(
      'DispatcherErrorsAlarm',
      'the dispatcher failed (see its log).',
      functions.dispatcher.metricErrors(fiveMinutes),
      1,
    ),
  ];
}
