import { randomBytes } from 'node:crypto';
import { toRanges } from '../imap/uid-set.ts';
import { intact } from './record-catalogue.ts';
import type { StateStore } from './store.ts';
import { stateKey } from './store.ts';

/** How long a run's journal entry is kept unless the ruleset says otherwise (`keepHistory`). */
export const DEFAULT_HISTORY_MS = 30 * 24 * 60 * 60_000;

/** What one action of a rule did, as far as it can be undone. UID sets are IMAP sets (`1:5,9`). */
export interface JournalAction {
  readonly type: string;
  readonly target?: string;
  /** The source UIDs it acted on. */
  readonly uids: string;
  readonly count: number;
  /**
   * Moves and copies: where the messages went, their new UIDs in the order of `uids` (COPYUID, RFC 4315). Without
   * UIDPLUS no new UIDs, but the target's UIDNEXT before the transfer and the Message-IDs in the order of `uids`.
   */
  readonly to?: {
    readonly mailbox: string;
    readonly uidValidity?: string;
    readonly uids?: string;
    readonly uidNext?: number;
    readonly messageIds?: readonly (string | null)[];
    /** Set by an undo on the UIDs it found by Message-ID, not COPYUID. */
    readonly foundByMessageId?: true;
  };
  /** Flag changes: per flag, the UIDs whose flags really changed (a flag a message had already is not here). */
  readonly changed?: Readonly<Record<string, string>>;
  /** `delete: expunge`: gone for good. */
  readonly expunged?: true;
  /** Webhooks: per message posted, its Idempotency-Key and the receiver's status (up to 2,000 messages). */
  readonly posted?: readonly {
    readonly uid: number;
    readonly idempotencyKey: string;
    readonly status: number;
  }[];
}

export interface JournalRule {
  readonly name: string;
  readonly mailbox: string;
  readonly uidValidity: string;
  readonly actions: readonly JournalAction[];
  /** A few of the messages it acted on, oldest first, for `mailsift history RUN_ID`. */
  readonly sample?: readonly {
    readonly uid: number;
    readonly date?: string;
    readonly from?: string;
    readonly subject?: string;
  }[];
}

/** One real run of one ruleset on one account: what it changed, for `mailsift history` and `undo`. */
export interface JournalEntry {
  readonly id: string;
  readonly ruleset: string;
  readonly account: string;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly rules: readonly JournalRule[];
  /** Set on the entry of an undo: the run it took back. */
  readonly undoes?: string;
  /** Set on the entry of an undo of some rules only (`undo --rule`): which. */
  readonly undoesRules?: readonly string[];
}

/** A UID set for the journal: ranges, so that 50,000 consecutive UIDs are a few characters. */
export function journalSet(uids: Iterable<number>): string {
  return toRanges(uids).join(',');
}

/**
 * UIDs whose order matters (new UIDs in the order of the source UIDs): as ranges where they rise, as the COPYUID
 * of one COPY or MOVE does; else one by one.
 */
export function orderedSet(uids: readonly number[]): string {
  const rising = uids.every((uid, i) => i === 0 || uid > (uids[i - 1] as number));
  return rising ? journalSet(uids) : uids.join(',');
}

/**
 * Run ids sort by time: `20261201T144500Z-3f9a` (the start, then a few random characters so that two runs in
 * one second differ).
 */
export function newRunId(startedAt: Date): string {
  const stamp = startedAt
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

/**
 * Runs of every account, by id: where each one's entry is (the account's state scope). Under a key of its own,
 * since a run id alone must lead to its account (`mailsift undo RUN_ID`).
 */
const RUN_INDEX = 'mailsift-runs';

export interface RunIndexEntry {
  readonly scope: string;
  readonly account: string;
  readonly ruleset: string;
}

/** Where the run `id` is recorded, if it is (and not expired). */
export async function findRun(store: StateStore, id: string): Promise<RunIndexEntry | undefined> {
  if (!/^[\w-]+$/.test(id)) return undefined;
  return (await store.get<RunIndexEntry>(stateKey(RUN_INDEX, id)))?.value;
}

/** Every run recorded, newest first: id and where. */
export async function allRuns(store: StateStore): Promise<(RunIndexEntry & { id: string })[]> {
  const records = await store.list<RunIndexEntry>(stateKey(RUN_INDEX, ''));
  return records
    .map((record) => ({ ...record.value, id: record.key.slice(RUN_INDEX.length + 1) }))
    .sort((a, b) => b.id.localeCompare(a.id));
}

/** The journal of one account (its state scope): one record per run, expiring with the history's length. */
export class RunJournal {
  constructor(
    private readonly store: StateStore,
    private readonly scope: string,
  ) {}

  async write(entry: JournalEntry, keepMs = DEFAULT_HISTORY_MS): Promise<void> {
    const expiresAt = Date.parse(entry.endedAt) + keepMs;
    await this.store.put(stateKey(this.scope, 'journal', entry.id), entry, { expiresAt });
    const index: RunIndexEntry = { scope: this.scope, account: entry.account, ruleset: entry.ruleset };
    await this.store.put(stateKey(RUN_INDEX, entry.id), index, { expiresAt });
  }

  async get(id: string): Promise<JournalEntry | undefined> {
    if (!/^[\w-]+$/.test(id)) return undefined;
    return (await this.store.get<JournalEntry>(stateKey(this.scope, 'journal', id)))?.value;
  }

  /** Every entry kept, newest first. */
  async list(): Promise<JournalEntry[]> {
    const records = await this.store.list(stateKey(this.scope, 'journal', ''));
    return records
      .map((record) => intact<JournalEntry>(record).value)
      .sort((a, b) => b.id.localeCompare(a.id));
  }
}
