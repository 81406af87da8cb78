import { expandUidSet, toRanges } from '../imap/uid-set.ts';
import { keySegment, type StateStore, stateKey } from './store.ts';

/** A delivery record lives this long after its last write; a read rewrites it once it is REFRESH_MS old. */
const RECORD_LIFETIME_MS = 400 * 24 * 60 * 60_000;
const REFRESH_MS = 30 * 24 * 60 * 60_000;

interface StoredDeliveries {
  /** UID ranges, `1:5,9`. */
  readonly uids: string;
  readonly writtenAt: number;
}

/**
 * The messages of one mailbox (at one UIDVALIDITY) that a webhook delivered under one delivery keyword: what the
 * keyword records on the server, kept in the state store as well, so that servers that cannot store keywords
 * (Exchange Online's PERMANENTFLAGS have no `\*`) post each message once too, and a cut between the server's
 * keyword STORE and its answer costs nothing. Writes after each 2xx; concurrent adds share one write.
 */
export class DeliveryLog {
  private readonly store: StateStore;
  private readonly key: string;
  private readonly now: () => number;
  private delivered: Set<number> | undefined;
  /** What the last write stored. */
  private written = new Set<number>();
  private writing: Promise<void> = Promise.resolve();

  constructor(
    store: StateStore,
    scope: string,
    where: { readonly mailbox: string; readonly uidValidity: bigint; readonly keyword: string },
    now: () => number = Date.now,
  ) {
    this.store = store;
    this.key = stateKey(
      scope,
      'deliveries',
      keySegment(where.mailbox),
      where.uidValidity.toString(),
      keySegment(where.keyword),
    );
    this.now = now;
  }

  /** The UIDs delivered so far. `refresh`: a real run keeps a record it reads from expiring. */
  async load(options: { readonly refresh: boolean }): Promise<ReadonlySet<number>> {
    if (this.delivered) return this.delivered;
    const record = await this.store.get<StoredDeliveries>(this.key);
    this.delivered = new Set(expandUidSet(record?.value.uids ?? ''));
    this.written = new Set(this.delivered);
    if (record && options.refresh && this.now() - record.value.writtenAt > REFRESH_MS) await this.write();
    return this.delivered;
  }

  /** Records that `uid` was delivered; resolves once a write that includes it is durable. */
  async add(uid: number): Promise<void> {
    const delivered = this.delivered ?? new Set(await this.load({ refresh: false }));
    this.delivered = delivered;
    delivered.add(uid);
    // One write at a time, each writing everything added so far: four posts finishing together cost two writes.
    const write = this.writing
      .catch(() => undefined)
      .then(() => (this.written.has(uid) ? undefined : this.write()));
    this.writing = write;
    await write;
  }

  private async write(): Promise<void> {
    const snapshot = new Set(this.delivered);
    const writtenAt = this.now();
    await this.store.put(
      this.key,
      { uids: toRanges(snapshot).join(','), writtenAt } satisfies StoredDeliveries,
      {
        expiresAt: writtenAt + RECORD_LIFETIME_MS,
      },
    );
    this.written = snapshot;
  }
}
