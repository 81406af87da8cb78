import { Duration } from 'aws-cdk-lib';
import { DeduplicationScope, FifoThroughputLimit, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';

/** How often the worker may take a message before it goes to the runs DLQ. */
export const MAX_RECEIVE_COUNT = 3;

export interface FleetQueues {
  /** The FIFO queue of runs: one message group per account. */
  readonly runs: Queue;
  /** Runs that failed every try (FIFO, as a FIFO queue's DLQ must be). */
  readonly failedRuns: Queue;
  /** Ticks Scheduler could not deliver, and dispatcher invocations that failed their retries (standard queue). */
  readonly failedTicks: Queue;
}

/**
 * The queues. SSE-SQS rather than the AWS-managed KMS key: EventBridge Scheduler cannot use aws/sqs to send.
 * The runs queue is FIFO in high-throughput mode (throughput per message group, deduplication per group): the
 * fleet's thousands of groups are not held to one queue-wide limit.
 */
export function fleetQueues(scope: Construct, workerTimeout: Duration): FleetQueues {
  const dlq = (id: string, fifo: boolean, reason: string) => {
    const queue = new Queue(scope, id, {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      ...(fifo ? { fifo: true } : {}),
    });
    NagSuppressions.addResourceSuppressions(queue, [{ id: 'AwsSolutions-SQS3', reason }]);
    return queue;
  };
  const failedRuns = dlq('FailedRunsQueue', true, 'This queue is the dead-letter queue of the runs queue.');
  const failedTicks = dlq(
    'FailedTicksQueue',
    false,
    'This queue is the dead-letter queue of the schedules and the dispatcher (Scheduler needs a standard queue).',
  );
  const runs = new Queue(scope, 'RunsQueue', {
    fifo: true,
    contentBasedDeduplication: false,
    deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
    fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    // AWS's advice for an event source mapping: at least six times the function timeout, so a message is not
    // handed out again while a run of it may still be going.
    visibilityTimeout: Duration.seconds(workerTimeout.toSeconds() * 6),
    // A run queued a day ago is long superseded by later ticks.
    retentionPeriod: Duration.days(1),
    deadLetterQueue: { queue: failedRuns, maxReceiveCount: MAX_RECEIVE_COUNT },
  });
  return { runs, failedRuns, failedTicks };
}
