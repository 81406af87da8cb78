import { Logger } from '@aws-lambda-powertools/logger';
import { SQSClient } from '@aws-sdk/client-sqs';
import { MailsiftError } from '../errors.ts';
import { BUNDLED_MANIFEST } from '../fleet/bundled.ts';
import { type FleetManifest, runsDue } from '../fleet/manifest.ts';
import { type SendOptions, sendRuns } from './send-runs.ts';

/** What each schedule sends: its key, and Scheduler's `<aws.scheduler.scheduled-time>` for the tick. */
export interface ScheduleTick {
  readonly schedule?: string;
  readonly scheduledTime?: string;
}

export interface DispatcherDependencies {
  readonly manifest: FleetManifest;
  readonly sqs: () => SQSClient;
  readonly queueUrl: () => string;
  readonly logger: Logger;
  readonly send?: SendOptions;
}

/**
 * The dispatcher: on each tick of a schedule, one message per (ruleset, account) due on it, to the FIFO queue.
 * It only queues; a failure to queue fails the invocation, which Lambda retries twice (Scheduler invokes it
 * asynchronously) before the tick goes to the failed-ticks queue. What a retry queues again is deduplicated by SQS.
 */
export function createDispatcher(deps: DispatcherDependencies) {
  return async (event: ScheduleTick): Promise<{ readonly queued: number }> => {
    const { schedule, scheduledTime } = event ?? {};
    if (typeof schedule !== 'string' || !Number.isFinite(Date.parse(scheduledTime ?? '')))
      throw new MailsiftError('the schedule event needs schedule and scheduledTime (see the stack)');
    const runs = runsDue(deps.manifest, schedule, scheduledTime as string);
    if (runs.length === 0) {
      // A schedule left from an earlier deployment, or a file with no account left: nothing is due.
      deps.logger.warn('nothing due', { schedule, scheduledTime });
      return { queued: 0 };
    }
    const result = await sendRuns(deps.sqs(), deps.queueUrl(), runs, deps.send);
    deps.logger.info('runs queued', { schedule, scheduledTime, queued: result.queued });
    return result;
  };
}

let client: SQSClient | undefined;
export const handler = createDispatcher({
  manifest: BUNDLED_MANIFEST,
  sqs: () => {
    client ??= new SQSClient({});
    return client;
  },
  queueUrl: () => {
    const url = process.env.MAILSIFT_QUEUE_URL;
    if (!url) throw new MailsiftError('MAILSIFT_QUEUE_URL is not set: deploy with the mailsift stack');
    return url;
  },
  logger: new Logger({ serviceName: 'mailsift' }),
});
