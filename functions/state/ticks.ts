import { keySegment, type StateStore, stateKey } from './store.ts';

/** A tick record of a ruleset no longer run is forgotten after this long. */
const RECORD_LIFETIME_MS = 30 * 24 * 60 * 60_000;

/**
 * Which scheduled ticks a (ruleset, account) pair no longer needs, on AWS: a finished run started at `coveredUntil`
 * saw the mailbox as of then, so a tick scheduled at or before it would only repeat that run. Queued ticks of a
 * slow account thus collapse into one: its backlog never grows past one pending run per ruleset.
 *
 * Keyed by the account's *name* (the queue's message group), not its scope: the check comes before the account's
 * parameter is read, so a dropped tick costs one DynamoDB read and no Parameter Store call. The first segment
 * holds the account, so the records spread over the table's partitions.
 */
export class Ticks {
  private readonly store: StateStore;
  private readonly key: string;

  constructor(store: StateStore, ruleset: string, account: string) {
    this.store = store;
    this.key = stateKey(keySegment(`ticks:${account}`), keySegment(ruleset));
  }

  /** Whether a finished run already covered a tick scheduled at `scheduledTime`. */
  async covers(scheduledTime: string): Promise<boolean> {
    const record = await this.store.get<{ coveredUntil?: string }>(this.key);
    const covered = Date.parse(record?.value.coveredUntil ?? '');
    return Number.isFinite(covered) && Date.parse(scheduledTime) <= covered;
  }

  /**
   * Records that a run started at `startedAt` finished. A plain write: runs of one account come from one FIFO
   * message group, one after the other, so a later run always started later.
   */
  async finished(startedAt: Date, now = Date.now()): Promise<void> {
    await this.store.put(
      this.key,
      { coveredUntil: startedAt.toISOString() },
      { expiresAt: now + RECORD_LIFETIME_MS },
    );
  }
}
