import { asideLabel, isInspectable } from './inspect.ts';
import { keySegment, type StateStore, StateStoreError, stateKey } from './store.ts';

/** A checkpoint nobody renewed (a ruleset removed, a mailbox gone) is forgotten after this long: a full scan. */
const RECORD_LIFETIME_MS = 90 * 24 * 60 * 60_000;

/**
 * What one ruleset's rules on one mailbox had finished when a run of them ended cleanly: every message they would
 * act on was acted on, as of the mailbox at `uidValidity`, `uidNext` and `highestModseq` and the clock at `at`.
 * An incremental run looks only at what can have changed since (engine/scan.ts).
 */
export interface Checkpoint {
  /** engine/scan.ts rulesDigest of the rules it was made by: other rules start over with a full scan. */
  readonly digest: string;
  readonly uidValidity: bigint;
  /** UIDNEXT when the run started: later arrivals have UIDs from here on. */
  readonly uidNext: number;
  /** HIGHESTMODSEQ when the run started (RFC 7162): later flag changes have MODSEQs above it. */
  readonly highestModseq: bigint;
  /** The HIGHESTMODSEQ the run's own changes took the mailbox to, at least (none if it changed nothing). */
  readonly reachedModseq?: bigint;
  /** The time the rules were evaluated at (the run's clock), for rules whose match depends on time. */
  readonly at: Date;
  /** When the last full scan was: the periodic full scan counts from it. */
  readonly fullAt: Date;
}

/** As stored: JSON has no bigint or Date. */
interface StoredCheckpoint {
  readonly digest: string;
  readonly uidValidity: string;
  readonly uidNext: number;
  readonly highestModseq: string;
  readonly reachedModseq?: string;
  readonly at: string;
  readonly fullAt: string;
}

/** A record that is there but not a checkpoint this version can read (another format, or damaged). */
export const UNREADABLE = 'unreadable';

/** The checkpoints of one ruleset of an account, one per mailbox its rules look at. */
export class Checkpoints {
  private readonly store: StateStore;
  private readonly prefix: string;
  private readonly now: () => number;

  constructor(store: StateStore, scope: string, ruleset: string, now: () => number = Date.now) {
    this.store = store;
    this.prefix = stateKey(scope, 'checkpoints', keySegment(ruleset), '');
    this.now = now;
  }

  /** Mailboxes whose checkpoint was there but unreadable: set aside, not overwritten, by `save`. */
  private readonly unreadable = new Set<string>();

  /**
   * `tolerant` (--full, which needs no checkpoint): a record the store cannot read at all counts as unreadable
   * too, and is set aside by `save`, instead of stopping the run.
   */
  async load(
    mailbox: string,
    options: { readonly tolerant?: boolean } = {},
  ): Promise<Checkpoint | typeof UNREADABLE | undefined> {
    const record = await this.store
      .get<Partial<StoredCheckpoint>>(this.keyOf(mailbox))
      .catch((error: unknown) => {
        if (!options.tolerant || !(error instanceof StateStoreError)) throw error;
        this.unreadable.add(mailbox);
        return UNREADABLE;
      });
    if (typeof record === 'string') return UNREADABLE;
    if (!record) return undefined;
    const checkpoint = parseCheckpoint(record.value);
    if (!checkpoint) this.unreadable.add(mailbox);
    return checkpoint ?? UNREADABLE;
  }

  async save(mailbox: string, checkpoint: Checkpoint): Promise<void> {
    const stored: StoredCheckpoint = {
      digest: checkpoint.digest,
      uidValidity: checkpoint.uidValidity.toString(),
      uidNext: checkpoint.uidNext,
      highestModseq: checkpoint.highestModseq.toString(),
      ...(checkpoint.reachedModseq === undefined
        ? {}
        : { reachedModseq: checkpoint.reachedModseq.toString() }),
      at: checkpoint.at.toISOString(),
      fullAt: checkpoint.fullAt.toISOString(),
    };
    if (this.unreadable.delete(mailbox) && isInspectable(this.store)) {
      // Kept for whoever wants to know what damaged it (mailsift state check lists it as set aside).
      await this.store.setAside(this.keyOf(mailbox), asideLabel('damaged', new Date(this.now())));
    }
    await this.store.put(this.keyOf(mailbox), stored, { expiresAt: this.now() + RECORD_LIFETIME_MS });
  }

  private keyOf(mailbox: string): string {
    return `${this.prefix}${keySegment(mailbox)}`;
  }
}

const DECIMAL = /^\d{1,20}$/;

/** The checkpoint a stored value holds; undefined when it holds none (another format, or damaged). */
export function parseCheckpoint(value: Partial<StoredCheckpoint> | null | undefined): Checkpoint | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const { digest, uidValidity, uidNext, highestModseq, reachedModseq } = value;
  const at = new Date(value.at ?? Number.NaN);
  const fullAt = new Date(value.fullAt ?? Number.NaN);
  if (
    typeof digest !== 'string' ||
    typeof uidValidity !== 'string' ||
    !DECIMAL.test(uidValidity) ||
    typeof highestModseq !== 'string' ||
    !DECIMAL.test(highestModseq) ||
    (reachedModseq !== undefined && (typeof reachedModseq !== 'string' || !DECIMAL.test(reachedModseq))) ||
    !Number.isSafeInteger(uidNext) ||
    (uidNext as number) < 1 ||
    Number.isNaN(at.getTime()) ||
    Number.isNaN(fullAt.getTime())
  ) {
    return undefined;
  }
  return {
    digest,
    uidValidity: BigInt(uidValidity),
    uidNext: uidNext as number,
    highestModseq: BigInt(highestModseq),
    ...(reachedModseq === undefined ? {} : { reachedModseq: BigInt(reachedModseq) }),
    at,
    fullAt,
  };
}
