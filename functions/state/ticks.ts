import { keySegment, type StateStore, stateKey } from './store.ts';

/** A tick record of a ruleset no longer run is forgotten after this long. */
const RECORD_LIFETIME_MS = 30 * 24 * 60 * 60_000;

interface TickRecord {
  /** The start of the last run that finished: it saw the mailbox as of then. */
  readonly coveredUntil?: string;
  /** The start of the last run that failed: its own message is retried, so earlier ticks need not be. */
  readonly attemptedAt?: string;
}

/**
 * Which scheduled ticks a (ruleset, account) pair no longer needs, on AWS. A finished run started at `coveredUntil`
 * saw the mailbox as of then, so a tick scheduled at or before it would only repeat that run. A failed run started
 * at `attemptedAt` is retried by its own message, so a tick scheduled before that start would only repeat the
 * retry. Queued ticks of a slow or failing account thus collapse: its backlog never grows past what one run or
 * one round of retries takes. A tick is only a trigger (every run looks at the mailbox as it is), and a later
 * tick always comes, so dropping one skips no mail.
 *
 * Keyed by the account's *name* (the queue's message group), not its scope: the check comes before the account's
 * parameter is read, so a dropped tick costs one DynamoDB read and no Parameter Store call. The first segment
 * holds the account, so the records spread over the table's partitions.
 */
export class Ticks {
  private readonly store: StateStore;
  private readonly key: string;
  private last: TickRecord = {};

  constructor(store: StateStore, ruleset: string, account: string) {
    this.store = store;
    this.key = stateKey(keySegment(`ticks:${account}`), keySegment(ruleset));
  }

  /**
   * Whether a tick scheduled at `scheduledTime` is covered: by a finished run, or, unless this message is itself
   * the failed run's retry (`redelivered`), by a failed run that started after it.
   */
  async covers(scheduledTime: string, redelivered: boolean): Promise<boolean> {
    this.last = (await this.store.get<TickRecord>(this.key))?.value ?? {};
    const at = Date.parse(scheduledTime);
    const since = (time: string | undefined) =>
      Number.isFinite(Date.parse(time ?? '')) && at <= Date.parse(time ?? '');
    return since(this.last.coveredUntil) || (!redelivered && since(this.last.attemptedAt));
  }

  /**
   * Records that a run started at `startedAt` finished. Runs of one account come from one FIFO message group,
   * one after the other, so a later run always started later than every earlier attempt.
   */
  async finished(startedAt: Date, now = Date.now()): Promise<void> {
    await this.write({ coveredUntil: startedAt.toISOString() }, now);
  }

  /** Records that a run started at `startedAt` failed (after `covers`, whose read it keeps). */
  async failed(startedAt: Date, now = Date.now()): Promise<void> {
    await this.write({ ...this.last, attemptedAt: startedAt.toISOString() }, now);
  }

  private async write(record: TickRecord, now: number): Promise<void> {
    this.last = record;
    await this.store.put(this.key, record, { expiresAt: now + RECORD_LIFETIME_MS });
  }
}
