import { expandUidSet, toRanges } from '../imap/uid-set.ts';
import { readWatermark, storedWatermark, type Watermark, wentBack } from './mailbox-watermark.ts';
import { intact } from './record-catalogue.ts';
import { keySegment, type StateStore, stateKey } from './store.ts';

/** A pending expunge nobody finished (its mailbox was deleted, say) is forgotten after this long. */
const RECORD_LIFETIME_MS = 30 * 24 * 60 * 60_000;

/** UIDs per record, so that none outgrows a DynamoDB item (400 KB): 10,000 scattered UIDs are about 60 KB. */
const UIDS_PER_RECORD = 10_000;

/**
 * The messages of one mailbox (at one UIDVALIDITY) that a run marked `\Deleted` to expunge them, written before
 * the STORE and deleted after the `UID EXPUNGE`: a run cut in between leaves the record, and the next run that
 * expunges in that mailbox finishes exactly those (engine/finish-expunges.ts). Other clients' `\Deleted`
 * messages are in no record and are never touched.
 */
export class PendingExpunges {
  private readonly store: StateStore;
  private readonly prefix: string;
  private readonly now: () => number;
  private readonly mailbox: Watermark;

  constructor(
    store: StateStore,
    scope: string,
    mailbox: { readonly path: string; readonly uidValidity: bigint } & Watermark,
    now: () => number = Date.now,
  ) {
    this.store = store;
    this.mailbox = mailbox;
    this.prefix = stateKey(scope, 'expunges', keySegment(mailbox.path), mailbox.uidValidity.toString(), '');
    this.now = now;
  }

  /**
   * The UIDs an earlier run meant to expunge and may not have. A record written when the mailbox stood further
   * on than it does now (it was put back from a backup since) is not believed: its UIDs may hold other mail now,
   * or will; it is given back in `wentBack` with the reason, for the caller to forget and report.
   */
  async pending(): Promise<{ uids: number[]; wentBack: { key: string; reason: string }[] }> {
    const records = await this.store.list<{ uids: string; at?: unknown }>(this.prefix);
    const uids: number[] = [];
    const back: { key: string; reason: string }[] = [];
    for (const record of records.map((each) => intact<{ uids: string; at?: unknown }>(each))) {
      const at = readWatermark(record.value.at);
      const reason = at && wentBack(at, this.mailbox);
      if (reason) back.push({ key: record.key, reason });
      else uids.push(...expandUidSet(record.value.uids ?? ''));
    }
    return { uids, wentBack: back };
  }

  /** Forgets the records `pending` did not believe. */
  async forget(keys: readonly string[]): Promise<void> {
    for (const key of keys) await this.store.delete(key);
  }

  /** Writes down `uids` before they are marked `\Deleted`, a record per UIDS_PER_RECORD of them. */
  async record(uids: readonly number[]): Promise<void> {
    const expiresAt = this.now() + RECORD_LIFETIME_MS;
    const at = storedWatermark(this.mailbox);
    for (let start = 0; start < uids.length; start += UIDS_PER_RECORD) {
      const part = toRanges(uids.slice(start, start + UIDS_PER_RECORD)).join(',');
      await this.store.put(`${this.prefix}${start / UIDS_PER_RECORD}`, { uids: part, at }, { expiresAt });
    }
  }

  /** The expunge happened. */
  async done(): Promise<void> {
    for (const record of await this.store.list(this.prefix)) await this.store.delete(record.key);
  }
}
