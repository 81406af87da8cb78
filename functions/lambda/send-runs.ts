import {
  type BatchResultErrorEntry,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { MailsiftError } from '../errors.ts';
import { deduplicationId, encodeRunMessage, messageGroupId, type RunMessage } from '../fleet/run-message.ts';

/** Some runs of a tick could not be queued after every try; Scheduler's retry of the tick queues them again. */
export class DispatchError extends MailsiftError {}

export interface SendOptions {
  /** Tries per batch entry. @default 4 */
  readonly tries?: number;
  /** Batches in flight at once. @default 10 */
  readonly concurrency?: number;
  readonly pause?: (ms: number) => Promise<void>;
}

const BATCH = 10; // SendMessageBatch's maximum

/**
 * Queues `runs` with SendMessageBatch, ten at a time, with the deduplication id that makes sending one twice
 * harmless (so failed entries, and whole ticks, can simply be sent again). Entries SQS refused for a reason on
 * its side (throttling, a 5xx: `SenderFault` false) are retried after 0.2, 0.4, 0.8 s; refused as malformed,
 * they are not.
 * @throws DispatchError naming how many runs and which error codes, once every batch has been tried.
 */
export async function sendRuns(
  sqs: SQSClient,
  queueUrl: string,
  runs: readonly RunMessage[],
  options: SendOptions = {},
): Promise<{ readonly queued: number }> {
  const batches: SendMessageBatchRequestEntry[][] = [];
  for (let start = 0; start < runs.length; start += BATCH) {
    batches.push(runs.slice(start, start + BATCH).map((run, index) => entryOf(run, index)));
  }
  const failed: BatchResultErrorEntry[] = [];
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const batch = batches[next++] as SendMessageBatchRequestEntry[];
      failed.push(...(await sendBatch(sqs, queueUrl, batch, options)));
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 10, batches.length) }, worker));
  if (failed.length > 0) {
    const codes = [...new Set(failed.map((entry) => entry.Code ?? 'unknown'))].sort().join(', ');
    throw new DispatchError(`${failed.length} of ${runs.length} run(s) could not be queued (${codes})`);
  }
  return { queued: runs.length };
}

function entryOf(run: RunMessage, index: number): SendMessageBatchRequestEntry {
  return {
    Id: String(index),
    MessageBody: encodeRunMessage(run),
    MessageGroupId: messageGroupId(run),
    MessageDeduplicationId: deduplicationId(run),
  };
}

/** One batch with its retries; returns the entries that failed for good. */
async function sendBatch(
  sqs: SQSClient,
  queueUrl: string,
  entries: SendMessageBatchRequestEntry[],
  options: SendOptions,
): Promise<BatchResultErrorEntry[]> {
  const tries = options.tries ?? 4;
  const pause = options.pause ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
  let pending = entries;
  let transient: BatchResultErrorEntry[] = [];
  const refused: BatchResultErrorEntry[] = [];
  for (let attempt = 1; attempt <= tries && pending.length > 0; attempt++) {
    if (attempt > 1) await pause(100 * 2 ** (attempt - 1));
    let failures: BatchResultErrorEntry[];
    try {
      const output = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }));
      failures = output.Failed ?? [];
    } catch (error) {
      // The whole call failed (after the SDK's own retries): every entry is still pending, and tried again unless
      // the error is one no retry mends (AccessDenied, a missing queue).
      const code = (error as Error).name;
      const permanent = (error as { $fault?: string }).$fault === 'client' && !/Throttl/i.test(code);
      failures = pending.map((entry) => ({ Id: entry.Id, Code: code, SenderFault: permanent }));
    }
    refused.push(...failures.filter((entry) => entry.SenderFault));
    transient = failures.filter((entry) => !entry.SenderFault);
    const retry = new Set(transient.map((entry) => entry.Id));
    pending = pending.filter((entry) => retry.has(entry.Id));
  }
  return [...refused, ...(pending.length > 0 ? transient : [])];
}
