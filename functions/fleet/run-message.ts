import { createHash } from 'node:crypto';
import { MailsiftError } from '../errors.ts';

/** One run the dispatcher queues for the worker: a ruleset on one account, for one scheduled tick. */
export interface RunMessage {
  readonly ruleset: string;
  readonly account: string;
  /** The tick's scheduled time (ISO 8601), as EventBridge Scheduler names it: the same on its retries. */
  readonly scheduledTime: string;
}

/** A queued message that is not a run message of this format; it cannot succeed on a retry either. */
export class RunMessageError extends MailsiftError {}

const FORMAT = 1;

export function encodeRunMessage(message: RunMessage): string {
  return JSON.stringify({ format: FORMAT, ...message });
}

/** @throws RunMessageError naming what is wrong (never echoing the body, which came from the queue). */
export function decodeRunMessage(body: string): RunMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new RunMessageError('the queued message is not JSON');
  }
  const record = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  if (record.format !== FORMAT)
    throw new RunMessageError(`the queued message is not a run message of format ${FORMAT}`);
  const { ruleset, account, scheduledTime } = record;
  if (typeof ruleset !== 'string' || typeof account !== 'string' || typeof scheduledTime !== 'string')
    throw new RunMessageError('the queued message lacks ruleset, account or scheduledTime');
  if (!Number.isFinite(Date.parse(scheduledTime)))
    throw new RunMessageError('the queued message has no valid scheduledTime');
  return { ruleset, account, scheduledTime };
}

/**
 * SQS FIFO's deduplication id (at most 128 characters): a digest of ruleset, account and scheduled time, so a
 * Scheduler retry of a tick, or a dispatcher retry of a batch, queues no run twice within SQS's 5-minute window.
 */
export function deduplicationId(message: RunMessage): string {
  return createHash('sha256')
    .update(`${message.ruleset}\n${message.account}\n${message.scheduledTime}`)
    .digest('hex');
}

/**
 * The FIFO message group: the account. SQS hands out one group's messages one at a time, in order, so runs of
 * one account never overlap anywhere in the fleet, whatever the worker's concurrency.
 */
export function messageGroupId(message: RunMessage): string {
  return message.account;
}
