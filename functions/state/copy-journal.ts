import { expandUidSet, toRanges } from '../imap/uid-set.ts';
import { intact } from './record-catalogue.ts';
import { keySegment, type StateStore, stateKey } from './store.ts';

/** An entry no run used up (its rule no longer matches those messages) expires after this long. */
const ENTRY_LIFETIME_MS = 30 * 24 * 60 * 60_000;

/** UIDs per entry: 10,000 scattered UIDs as ranges are about 60 KB, well inside a DynamoDB item (400 KB). */
const UIDS_PER_ENTRY = 10_000;

/** Which copies: one rule of one ruleset, from one mailbox (at one UIDVALIDITY) to another. */
export interface CopyScope {
  readonly ruleset: string;
  readonly rule: string;
  readonly source: { readonly path: string; readonly uidValidity: bigint };
  readonly target: string;
}

/** One COPY, written down before it was sent. */
export interface JournalEntry {
  readonly key: string;
  readonly token: string;
  readonly ruleset: string;
  readonly rule: string;
  readonly source: string;
  readonly sourceValidity: string;
  readonly target: string;
  /** Empty when the target did not exist yet: then every message in it came after. */
  readonly targetValidity: string;
  /** The target's UIDNEXT before the COPY: its copies can only have UIDs from here on. */
  readonly targetUidNext: number;
  readonly uids: readonly number[];
  readonly writtenAt: number;
}

/** How a rule ended, for the entries of its COPYs. */
export interface RuleEnd {
  readonly ruleset: string;
  readonly rule: string;
  readonly source: { readonly path: string; readonly uidValidity: bigint };
  /** What the rule selected, and what its actions were applied to. */
  readonly matched: readonly number[];
  readonly acted: readonly number[];
  /** The rule failed (an action threw): it may not have done all it meant to. */
  readonly error: boolean;
  /** Messages an action failed for. */
  readonly failedUids: ReadonlySet<number>;
}

type StoredEntry = Omit<JournalEntry, 'key' | 'uids'> & { readonly uids: string };

/**
 * The copy journal: before each COPY a run writes down which UIDs go where and the target's UIDNEXT, so that a
 * later run of the same rule, after a cut between the server's COPY and the run marking its sources, can find
 * the copies (see engine/copies.ts) instead of copying again. An entry is deleted once a run of its rule ended
 * without failing for its messages and without leaving any of them matched but not acted on. Only the lease
 * holder writes: every entry not its own is from a run that ended.
 */
export class CopyJournal {
  private readonly store: StateStore;
  private readonly prefix: string;
  private readonly token: string;
  private readonly now: () => number;
  private earlier: JournalEntry[] | undefined;
  private serial = 0;
  /** Entries the running rule wrote, settled by `endRule`. */
  private readonly writtenByRule: JournalEntry[] = [];

  constructor(store: StateStore, scope: string, token: string, now: () => number = Date.now) {
    this.store = store;
    this.prefix = stateKey(scope, 'copies', '');
    this.token = token;
    this.now = now;
  }

  /** Earlier runs' entries for this scope that name some of `uids`; entries of a renumbered source are dropped. */
  async earlierEntries(scope: CopyScope, uids: readonly number[]): Promise<JournalEntry[]> {
    const acting = new Set(uids);
    const found: JournalEntry[] = [];
    for (const entry of await this.loadEarlier()) {
      if (!sameScope(entry, scope)) continue;
      if (entry.sourceValidity !== scope.source.uidValidity.toString()) {
        await this.drop(entry); // the source was renumbered: its UIDs name other messages now
        continue;
      }
      if (entry.uids.some((uid) => acting.has(uid))) found.push(entry);
    }
    return found;
  }

  /** Writes down that `uids` are about to be copied to `scope.target`, whose state before is `target`. */
  async record(
    scope: CopyScope,
    uids: readonly number[],
    target: { readonly uidNext: number; readonly uidValidity: bigint } | undefined,
  ): Promise<void> {
    for (let start = 0; start < uids.length; start += UIDS_PER_ENTRY) {
      await this.recordEntry(scope, uids.slice(start, start + UIDS_PER_ENTRY), target);
    }
  }

  private async recordEntry(
    scope: CopyScope,
    uids: readonly number[],
    target: { readonly uidNext: number; readonly uidValidity: bigint } | undefined,
  ): Promise<void> {
    const serial = ++this.serial;
    const key = `${this.prefix}${keySegment(scope.ruleset)}/${keySegment(scope.rule)}/${this.token}-${serial}`;
    const entry: JournalEntry = {
      key,
      token: this.token,
      ruleset: scope.ruleset,
      rule: scope.rule,
      source: scope.source.path,
      sourceValidity: scope.source.uidValidity.toString(),
      target: scope.target,
      targetValidity: target?.uidValidity.toString() ?? '',
      targetUidNext: target?.uidNext ?? 1,
      uids: [...uids],
      writtenAt: this.now(),
    };
    const { key: _key, ...stored } = entry;
    await this.store.put(key, { ...stored, uids: toRanges(uids).join(',') } satisfies StoredEntry, {
      expiresAt: entry.writtenAt + ENTRY_LIFETIME_MS,
    });
    this.writtenByRule.push(entry);
  }

  /**
   * A rule ended (`undefined`: the connection was lost). Its entries, the ones it wrote and those of earlier
   * runs, are used up (deleted) when it failed for none of their messages and left none of them matched but
   * not acted on (a `limit`): each of them then carries what the rule's actions leave, or is gone.
   */
  async endRule(end: RuleEnd | undefined): Promise<void> {
    const written = this.writtenByRule.splice(0);
    if (!end || end.error) return;
    const usedUp = isUsedUp(end);
    for (const entry of written) if (usedUp(entry)) await this.drop(entry);
    if (!this.earlier) return; // nothing of earlier runs was read, so none of them named this rule's UIDs
    for (const entry of [...this.earlier]) {
      if (entry.ruleset !== end.ruleset || entry.rule !== end.rule || entry.source !== end.source.path)
        continue;
      if (entry.sourceValidity !== end.source.uidValidity.toString() || usedUp(entry)) await this.drop(entry);
    }
  }

  private async loadEarlier(): Promise<JournalEntry[]> {
    if (!this.earlier) {
      const records = await this.store.list<StoredEntry>(this.prefix);
      this.earlier = records
        .map((each) => intact<StoredEntry>(each))
        .map((record) => ({ ...record.value, key: record.key, uids: expandUidSet(record.value.uids ?? '') }))
        .filter((entry) => entry.token !== this.token);
    }
    return this.earlier;
  }

  private async drop(entry: JournalEntry): Promise<void> {
    await this.store.delete(entry.key);
    if (this.earlier) this.earlier = this.earlier.filter((each) => each !== entry);
  }
}

/** An entry is used up when none of its UIDs waits (matched, not acted on) or failed. */
export function isUsedUp(end: RuleEnd): (entry: Pick<JournalEntry, 'uids'>) => boolean {
  const waiting = new Set(end.matched);
  for (const uid of end.acted) waiting.delete(uid);
  return (entry) => entry.uids.every((uid) => !waiting.has(uid) && !end.failedUids.has(uid));
}

function sameScope(entry: JournalEntry, scope: CopyScope): boolean {
  return (
    entry.ruleset === scope.ruleset &&
    entry.rule === scope.rule &&
    entry.source === scope.source.path &&
    entry.target === scope.target
  );
}

/**
 * Of `originals`, those with a copy among `copies` (same identity), each copy standing for one original only
 * (two identical originals need two copies); `claimed` copies are taken already and are extended.
 */
export function matchCopies<M extends { readonly uid: number }>(
  originals: readonly M[],
  copies: readonly M[],
  identityOf: (message: M) => string,
  claimed: Set<number>,
): Set<number> {
  const copiesOf = new Map<string, number[]>();
  for (const copy of copies) {
    if (claimed.has(copy.uid)) continue;
    const same = copiesOf.get(identityOf(copy)) ?? [];
    same.push(copy.uid);
    copiesOf.set(identityOf(copy), same);
  }
  const copied = new Set<number>();
  for (const original of originals) {
    const copy = copiesOf.get(identityOf(original))?.shift();
    if (copy === undefined) continue;
    claimed.add(copy);
    copied.add(original.uid);
  }
  return copied;
}
