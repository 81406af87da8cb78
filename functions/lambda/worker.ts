import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { hasFailed } from '../engine/run.ts';
import { MailsiftError } from '../errors.ts';
import { BUNDLED_MANIFEST } from '../fleet/bundled.ts';
import { type FleetManifest, rulesetLookup } from '../fleet/manifest.ts';
import { decodeRunMessage, RunMessageError } from '../fleet/run-message.ts';
import { parameterStoreSecrets } from '../secrets/ssm.ts';
import { DynamoDbStateStore } from '../state/dynamodb-store.ts';
import type { StateStore } from '../state/store.ts';
import { Ticks } from '../state/ticks.ts';
import { queueVisibility, type RetryLater } from './retry-later.ts';
import { type RunDependencies, runScheduled, TIME_MARGIN_MS } from './run-scheduled.ts';

/** A message is not started with less time than this left: it goes back to the queue instead. */
export const START_MARGIN_MS = 2 * TIME_MARGIN_MS;

export interface WorkerDependencies extends RunDependencies {
  readonly manifest: FleetManifest;
  /** Made on the first message (and kept while warm), so a missing setting fails that message, not the import. */
  readonly state: () => StateStore;
  readonly retryLater: RetryLater;
}

/**
 * How one message ended: done with (deleted from the queue) or to be retried (a batch item failure). Each is
 * counted as the fleet metric of the same name.
 */
type Outcome = 'runs' | 'superseded' | 'dropped' | 'busy' | 'failedRuns';

/**
 * The worker on the FIFO queue: each message is one run of a ruleset on an account. Messages are taken in
 * order; once one of a message group fails, the group's later messages in the batch are returned unprocessed
 * (ReportBatchItemFailures), so an account's runs keep their order. A failed run comes back after a backoff.
 * The stack's event source hands over one message at a time; the handler still keeps the order of a larger batch.
 */
export function createWorker(deps: WorkerDependencies) {
  const lookup = rulesetLookup(deps.manifest);
  let store: StateStore | undefined;
  const outcomeOf = async (record: SQSRecord, context: Pick<Context, 'getRemainingTimeInMillis'>) => {
    try {
      store ??= deps.state();
      return await runMessage(deps, lookup, store, record, context);
    } catch (error) {
      // Our errors carry what to do and no secret; anything else is logged by name and message only.
      const { name, message } = error instanceof Error ? error : new Error(String(error));
      deps.logger.error('run failed', { messageId: record.messageId, errorType: name, error: message });
      if (name === 'OAuth2Error') count(deps.metrics, 'tokenFailures');
      return 'failedRuns' as const;
    }
  };
  return async (
    event: SQSEvent,
    context: Pick<Context, 'getRemainingTimeInMillis'>,
  ): Promise<SQSBatchResponse> => {
    const failures: string[] = [];
    const held = new Set<string>();
    for (const record of event.Records) {
      const group = record.attributes.MessageGroupId ?? record.messageId;
      if (held.has(group) || context.getRemainingTimeInMillis() < START_MARGIN_MS) {
        held.add(group);
        failures.push(record.messageId);
        await deps.retryLater(record, 0);
        continue;
      }
      const outcome = await outcomeOf(record, context);
      count(deps.metrics, outcome);
      if (outcome !== 'failedRuns') continue;
      held.add(group);
      failures.push(record.messageId);
      await deps.retryLater(record, backoffSeconds(record));
    }
    return { batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

async function runMessage(
  deps: WorkerDependencies,
  lookup: ReturnType<typeof rulesetLookup>,
  store: StateStore,
  record: SQSRecord,
  context: Pick<Context, 'getRemainingTimeInMillis'>,
): Promise<Outcome> {
  let message: ReturnType<typeof decodeRunMessage>;
  try {
    message = decodeRunMessage(record.body);
  } catch (error) {
    if (!(error instanceof RunMessageError)) throw error;
    // Retried until the queue's maxReceiveCount, then kept in the DLQ for a person to look at.
    deps.logger.error('unreadable message', { messageId: record.messageId, error: error.message });
    return 'failedRuns';
  }
  const about = { ...message, messageId: record.messageId };
  const ruleset = lookup(message.ruleset, message.account);
  if (!ruleset) {
    // Queued before a deployment that removed the rule file or the account: nothing to run any more.
    deps.logger.warn('run dropped: not in the deployed rule files', about);
    return 'dropped';
  }
  const ticks = new Ticks(store, message.ruleset, message.account);
  if (await ticks.covers(message.scheduledTime, Number(record.attributes.ApproximateReceiveCount) > 1)) {
    deps.logger.info('tick superseded: a later run already covered it', about);
    return 'superseded';
  }
  const startedAt = new Date();
  const summary = await runScheduled(deps, ruleset, store, () => context.getRemainingTimeInMillis()).catch(
    async (error: unknown) => {
      await attempted(deps, ticks, startedAt);
      throw error;
    },
  );
  deps.metrics.singleMetric().addMetric('runDuration', MetricUnit.Milliseconds, summary.durationMs);
  if (summary.errorType === 'OAuth2Error') count(deps.metrics, 'tokenFailures');
  if (summary.busy) {
    // Another run of the mailbox holds its lease (the CLI, or a second name for it): as the CLI's SKIPPED, the
    // next tick runs this ruleset. Not a failure.
    deps.logger.info('account busy: run skipped, the next tick runs it', { ...about, busy: summary.busy });
    return 'busy';
  }
  if (hasFailed(summary)) {
    await attempted(deps, ticks, startedAt);
    return 'failedRuns';
  }
  // A run the time budget cut short covered nothing: the next tick goes on from its checkpoints.
  if (!summary.incomplete) {
    await ticks.finished(startedAt).catch((error: unknown) => {
      // The run is done; without the record an older queued tick runs once more, which is harmless.
      deps.logger.warn('run done, its tick not recorded', { ...about, errorType: (error as Error).name });
    });
  }
  return 'runs';
}

/** Notes a failed attempt, so that older queued ticks are dropped; best effort (without it they run, harmlessly). */
async function attempted(deps: WorkerDependencies, ticks: Ticks, startedAt: Date): Promise<void> {
  await ticks.failed(startedAt).catch((error: unknown) => {
    deps.logger.warn('failed attempt not recorded', { errorType: (error as Error).name });
  });
}

/** 30 s after the first failed receive, 60 s after the second (the third goes to the DLQ). */
export function backoffSeconds(record: SQSRecord): number {
  const receives = Math.max(1, Number(record.attributes.ApproximateReceiveCount) || 1);
  return Math.min(900, 30 * 2 ** (receives - 1));
}

/** Fleet-wide counts (no ruleset dimension), for the alarms and the dashboard. */
function count(metrics: Metrics, name: Outcome | 'tokenFailures'): void {
  metrics.singleMetric().addMetric(name, MetricUnit.Count, 1);
}

/** The state table the stack created and named in the function's environment. */
function stateTable(env: NodeJS.ProcessEnv): string {
  const table = env.MAILSIFT_STATE_TABLE;
  if (!table)
    throw new MailsiftError(
      'MAILSIFT_STATE_TABLE is not set: deploy with the mailsift stack, which creates the state table',
    );
  return table;
}

const logger = new Logger({ serviceName: 'mailsift' });
export const handler = createWorker({
  manifest: BUNDLED_MANIFEST,
  secrets: parameterStoreSecrets({ prefix: process.env.MAILSIFT_PARAMETER_PREFIX ?? '/mailsift' }),
  state: () => new DynamoDbStateStore(new DynamoDBClient({}), stateTable(process.env)),
  retryLater: queueVisibility(process.env.MAILSIFT_QUEUE_URL, logger),
  logger,
  metrics: new Metrics({ namespace: 'mailsift', serviceName: 'mailsift' }),
});
