import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';

/** Makes a message the worker gives back visible again after `seconds`, instead of the queue's timeout. */
export type RetryLater = (record: SQSRecord, seconds: number) => Promise<void>;

/**
 * The queue's visibility timeout is six times the function timeout (AWS's advice for event source mappings), half
 * an hour: too long to wait before retrying a run that failed for a moment, while the account's later ticks
 * wait behind it. Best effort: if the change fails the message simply comes back after the timeout. The SQS
 * client is loaded on the first retry only: a cold start of a run that succeeds does not pay for it.
 */
export function queueVisibility(queueUrl: string | undefined, logger?: Logger): RetryLater {
  let client: SQSClient | undefined;
  return async (record, seconds) => {
    if (!queueUrl) return;
    try {
      const sqs = await import('@aws-sdk/client-sqs');
      client ??= new sqs.SQSClient({});
      await client.send(
        new sqs.ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: record.receiptHandle,
          VisibilityTimeout: seconds,
        }),
      );
    } catch (error) {
      logger?.warn('could not shorten the wait before a retry', {
        messageId: record.messageId,
        errorType: (error as Error).name,
      });
    }
  };
}
