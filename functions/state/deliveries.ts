import { expandUidSet, toRanges } from '../imap/uid-set.ts';
import {
  readWatermark,
  type StoredWatermark,
  storedWatermark,
  type Watermark,
  wentBack,
} from './mailbox-watermark.ts';
import { intact } from './record-catalogue.ts';
import { keySegment, type StateStore, stateKey } from './store.ts';

/** A delivery record lives this long after its last write; a real run rewrites one it reads at REFRESH_MS old. */
const RECORD_LIFETIME_MS = 400 * 24 * 60 * 60_000;
const REFRESH_MS = 30 * 24 * 60 * 60_000;

/**
 * UIDs per record: each record holds the deliveries of one block of UIDs, so that none outgrows what a store
 * takes (DynamoDB items are at most 400 KB; 10,000 scattered UIDs as ranges are about 60 KB).
 */
const UIDS_PER_RECORD = 10_000;

interface StoredDeliveries {
  /** UID ranges, `1:5,9`. */
  readonly uids: string;
  readonly writtenAt: number;
  /** The mailbox when the record was written (records of older versions lack it). */
  readonly at?: StoredWatermark;
}

/** One block's record: what it holds, what its last write stored, and the write in flight. */
interface Block {
  readonly uids: Set<number>;
  written: ReadonlySet<number>;
  writtenAt: number;
  writing: Promise<void>;
}

/**
 * The messages of one mailbox (at one UIDVALIDITY) that a webhook delivered under one delivery keyword: what the
 * keyword records on the server, kept in the state store as well, so that servers that cannot store keywords
 * (Exchange Online's PERMANENTFLAGS have no `\*`) post each message once too, and a cut between the server's
 * keyword STORE and its answer costs nothing. Writes after each 2xx; adds that arrive together share a write.
 */
export class DeliveryLog {
  private readonly store: StateStore;
  private readonly prefix: string;
  private readonly now: () => number;
  private loading: Promise<Map<number, Block>> | undefined;
  private refreshed = false;
  private readonly mailbox: Watermark;
  private readonly warn: (text: string) => void;

  constructor(
    store: StateStore,
    scope: string,
    where: { readonly mailbox: string; readonly uidValidity: bigint; readonly keyword: string } & Watermark,
    options: { readonly now?: () => number; readonly warn?: (text: string) => void } = {},
  ) {
    this.store = store;
    this.mailbox = where;
    this.warn = options.warn ?? (() => undefined);
    this.prefix = stateKey(
      scope,
      'deliveries',
      keySegment(where.mailbox),
      where.uidValidity.toString(),
      keySegment(where.keyword),
      '',
    );
    this.now = options.now ?? Date.now;
  }

  /** The UIDs delivered so far. `refresh`: a real run keeps the records it reads from expiring. */
  async load(options: { readonly refresh: boolean }): Promise<ReadonlySet<number>> {
    const blocks = await this.blocks();
    if (options.refresh && !this.refreshed) {
      this.refreshed = true;
      for (const [index, block] of blocks) {
        if (this.now() - block.writtenAt > REFRESH_MS) await this.write(index, block);
      }
    }
    return new Set([...blocks.values()].flatMap((block) => [...block.uids]));
  }

  /** Records that `uid` was delivered; resolves once a write that includes it is durable. */
  async add(uid: number): Promise<void> {
    const blocks = await this.blocks();
    const index = Math.floor(uid / UIDS_PER_RECORD);
    const block = blocks.get(index) ?? {
      uids: new Set(),
      written: new Set(),
      writtenAt: 0,
      writing: Promise.resolve(),
    };
    blocks.set(index, block);
    block.uids.add(uid);
    // One write at a time per block, each writing everything added so far: posts finishing together share one.
    const write = block.writing
      .catch(() => undefined)
      .then(() => (block.written.has(uid) ? undefined : this.write(index, block)));
    block.writing = write;
    await write;
  }

  /** Every block's record, read once however many callers ask at the same time. */
  private blocks(): Promise<Map<number, Block>> {
    this.loading ??= this.store.list<StoredDeliveries>(this.prefix).then((records) => {
      const blocks = new Map<number, Block>();
      for (const record of records.map((each) => intact<StoredDeliveries>(each))) {
        const uids = new Set(expandUidSet(record.value.uids ?? ''));
        const index = Number(record.key.slice(this.prefix.length));
        const forgotten = this.wentBackFrom(record.key, record.value, uids);
        blocks.set(index, {
          uids,
          // A block that forgot its UIDs is written again with the next delivery.
          written: forgotten ? new Set() : new Set(uids),
          writtenAt: forgotten ? 0 : record.value.writtenAt,
          writing: Promise.resolve(),
        });
      }
      return blocks;
    });
    return this.loading;
  }

  /**
   * A record written when the mailbox stood further on (put back from a backup since) is not believed at all:
   * new mail may have taken its UIDs again already, and a message taken for posted would never be posted. Its UIDs
   * are forgotten (a message may be posted again, unless it carries the webhook's keyword); a real run's refreshing
   * `load` writes the record again, empty and at today's watermark, so that it is said once. Returns whether.
   */
  private wentBackFrom(key: string, value: StoredDeliveries, uids: Set<number>): boolean {
    const at = readWatermark(value.at);
    const reason = at && wentBack(at, this.mailbox);
    if (!reason) return false;
    this.warn(
      `the mailbox went back (${reason}) since delivery record ${key} was written: its ${uids.size} delivered ` +
        "UID(s) are forgotten, so those messages may be posted again unless they carry the webhook's keyword",
    );
    uids.clear();
    return true;
  }

  private async write(index: number, block: Block): Promise<void> {
    const snapshot = new Set(block.uids);
    const writtenAt = this.now();
    const at = storedWatermark(this.mailbox);
    await this.store.put(
      `${this.prefix}${index}`,
      { uids: toRanges(snapshot).join(','), writtenAt, at } satisfies StoredDeliveries,
      { expiresAt: writtenAt + RECORD_LIFETIME_MS },
    );
    block.written = snapshot;
    block.writtenAt = writtenAt;
  }
}
