import { Duration } from 'aws-cdk-lib';
import { Dashboard, GraphWidget, type IMetric, MathExpression, TextWidget } from 'aws-cdk-lib/aws-cloudwatch';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { fleetMetric } from './alarms.ts';
import type { FleetQueues } from './queues.ts';

const PERIOD = Duration.minutes(5);

/** Every ruleset's `name` metric (dimension ruleset): a search, so the dashboard does not grow with rule files. */
function perRuleset(name: string, statistic: string, label: string): MathExpression {
  return new MathExpression({
    expression: `SEARCH('{mailsift,ruleset,service} MetricName="${name}"', '${statistic}', ${PERIOD.toSeconds()})`,
    label,
    period: PERIOD,
  });
}

/** The fleet at a glance: runs and failures, what rulesets did, how long runs take, the queues. */
export function fleetDashboard(
  scope: Construct,
  queues: FleetQueues,
  functions: { readonly worker: LambdaFunction; readonly dispatcher: LambdaFunction },
  options: { readonly oauth2: boolean },
): Dashboard {
  const graph = (title: string, left: IMetric[], width = 12) =>
    new GraphWidget({ title, left, width, height: 6 });
  const dashboard = new Dashboard(scope, 'Dashboard', { defaultInterval: Duration.hours(24) });
  dashboard.addWidgets(
    new TextWidget({
      markdown:
        '# mailsift\nRuns per (ruleset, account) from the FIFO queue. Failed runs come back after 30 s, 60 s; ' +
        'after three tries they wait in FailedRunsQueue. See README.md, "On AWS".',
      width: 24,
      height: 2,
    }),
  );
  dashboard.addWidgets(
    graph('Runs and failures', [
      fleetMetric('runs'),
      fleetMetric('failedRuns'),
      fleetMetric('superseded'),
      fleetMetric('dropped'),
      fleetMetric('busy'),
    ]),
    graph('Run duration (ms)', [
      fleetMetric('runDuration', 'p50', PERIOD),
      fleetMetric('runDuration', 'p95', PERIOD),
    ]),
  );
  dashboard.addWidgets(
    graph('Matched per ruleset', [perRuleset('matched', 'Sum', 'matched')]),
    graph('Acted on per ruleset', [perRuleset('acted', 'Sum', 'acted')]),
  );
  dashboard.addWidgets(
    graph(
      'Queued runs',
      [
        queues.runs.metricApproximateNumberOfMessagesVisible({ period: PERIOD }),
        queues.runs.metricApproximateNumberOfMessagesNotVisible({ period: PERIOD }),
      ],
      8,
    ),
    graph(
      'Oldest queued run (s)',
      [queues.runs.metricApproximateAgeOfOldestMessage({ period: PERIOD, statistic: 'Maximum' })],
      8,
    ),
    graph(
      'Dead letters',
      [
        queues.failedRuns.metricApproximateNumberOfMessagesVisible({ period: PERIOD, label: 'failed runs' }),
        queues.failedTicks.metricApproximateNumberOfMessagesVisible({
          period: PERIOD,
          label: 'failed ticks',
        }),
      ],
      8,
    ),
  );
  dashboard.addWidgets(
    graph('Functions: errors and throttles', [
      functions.worker.metricErrors({ period: PERIOD, label: 'worker errors' }),
      functions.worker.metricThrottles({ period: PERIOD, label: 'worker throttles' }),
      functions.dispatcher.metricErrors({ period: PERIOD, label: 'dispatcher errors' }),
    ]),
    ...(options.oauth2 ? [graph('OAuth2 token failures', [fleetMetric('tokenFailures')])] : []),
  );
  return dashboard;
}
