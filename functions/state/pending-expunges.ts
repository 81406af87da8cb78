import { expandUidSet, toRanges } from '../imap/uid-set.ts';
import { keySegment, type StateStore, stateKey } from './store.ts';

/** A pending expunge nobody finished (its mailbox was deleted, say) is forgotten after this long. */
const RECORD_LIFETIME_MS = 30 * 24 * 60 * 60_000;

/**
 * The messages of one mailbox (at one UIDVALIDITY) that a run marked `\Deleted` to expunge them, written before
 * the STORE and deleted after the `UID EXPUNGE`: a run cut in between leaves the record, and the next run that
 * expunges in that mailbox finishes exactly those (engine/finish-expunges.ts). Other clients' `\Deleted`
 * messages are in no record and are never touched.
 */
export class PendingExpunges {
  private readonly store: StateStore;
  private readonly key: string;
  private readonly now: () => number;

  constructor(
    store: StateStore,
    scope: string,
    mailbox: { readonly path: string; readonly uidValidity: bigint },
    now: () => number = Date.now,
  ) {
    this.store = store;
    this.key = stateKey(scope, 'expunges', keySegment(mailbox.path), mailbox.uidValidity.toString());
    this.now = now;
  }

  /** The UIDs an earlier run meant to expunge and may not have. */
  async pending(): Promise<number[]> {
    const record = await this.store.get<{ uids: string }>(this.key);
    return expandUidSet(record?.value.uids ?? '');
  }

  /** Writes down `uids` before they are marked `\Deleted`. */
  async record(uids: readonly number[]): Promise<void> {
    await this.store.put(
      this.key,
      { uids: toRanges(uids).join(',') },
      {
        expiresAt: this.now() + RECORD_LIFETIME_MS,
      },
    );
  }

  /** The expunge happened. */
  async done(): Promise<void> {
    await this.store.delete(this.key);
  }
}
