import { UsageError } from './errors.ts';
import { asideLabel, type InspectableStore, type RawRecord } from './state/inspect.ts';
import { holdsAccount, type LeaseHolder } from './state/lease.ts';
import { THIS_MACHINE } from './state/machine.ts';
import { type CataloguedKey, catalogue, damageOf, withoutIt } from './state/record-catalogue.ts';
import { keySegment } from './state/store.ts';

/** A record `mailsift state check` has something to say about: damaged, or not mailsift's. */
export interface Finding extends CataloguedKey {
  readonly key: string;
  readonly where: string;
  readonly problem: string;
  /** What the next run does about it (damaged: as it is; `repair`: once it is set aside). */
  readonly nextRun: string;
}

export interface StateCheck {
  readonly records: number;
  readonly damaged: readonly Finding[];
  readonly foreign: readonly Finding[];
}

/** The records of one account's scope (`user@host`), or of every account (undefined). */
export function scopePrefix(scope: string | undefined): string {
  return scope === undefined ? '' : `${keySegment(scope)}/`;
}

/**
 * Reads every record (or one account's) and says which are damaged (unreadable, or not of their kind's shape)
 * and which are foreign (a key no kind of record has).
 */
export async function checkState(store: InspectableStore, scope?: string): Promise<StateCheck> {
  return findingsOf(await recordsOf(store, scope));
}

function findingsOf(records: readonly RawRecord[]): StateCheck {
  const damaged: Finding[] = [];
  const foreign: Finding[] = [];
  for (const raw of records) {
    const entry = catalogue(raw.key);
    // Set aside already: kept as it was, damaged or not, and read by no run.
    if (entry.kind === 'set aside') continue;
    const problem = raw.unreadable ?? damageOf(entry, raw.record?.value);
    const base = { ...entry, key: raw.key, where: raw.where };
    if (problem)
      damaged.push({ ...base, problem, nextRun: whileDamaged(entry, raw.unreadable !== undefined) });
    else if (entry.kind === 'foreign')
      foreign.push({
        ...base,
        problem: 'no kind of mailsift record has this key',
        nextRun: withoutIt(entry),
      });
  }
  return { records: records.length, damaged, foreign };
}

/** Sets every damaged record aside (kept, never deleted) and says, per record, what the next run does instead. */
export async function repairState(
  store: InspectableStore,
  scope: string | undefined,
  now: Date,
): Promise<(Finding & { readonly aside: string })[]> {
  const records = await recordsOf(store, scope);
  const { damaged } = findingsOf(records);
  refuseWhileHeld(records, damaged, 'repair', now.getTime());
  const label = asideLabel('damaged', now);
  const repaired: (Finding & { aside: string })[] = [];
  for (const finding of damaged) {
    const aside = await store.setAside(finding.key, label);
    repaired.push({ ...finding, aside, nextRun: withoutIt(finding) });
  }
  return repaired;
}

/**
 * What mailsift remembers of one account, given up (a migration to another server): every record of the scope
 * (or those about `mailbox`), set aside as `forgotten-TIME`, never deleted. Returns what was.
 */
export async function forgetAccount(
  store: InspectableStore,
  scope: string,
  options: { readonly mailbox?: string; readonly dryRun: boolean; readonly now: Date },
): Promise<Finding[]> {
  const all = await recordsOf(store, scope);
  if (!options.dryRun) refuseWhileHeld(all, [{ account: scope }], 'forget', options.now.getTime());
  const label = asideLabel('forgotten', options.now);
  const forgotten: Finding[] = [];
  for (const raw of all.filter((each) => aboutMailbox(each, options.mailbox))) {
    const entry = catalogue(raw.key);
    if (entry.kind === 'set aside') continue;
    const aside = options.dryRun ? raw.where : await store.setAside(raw.key, label);
    forgotten.push({ ...entry, key: raw.key, where: aside, problem: 'forgotten', nextRun: withoutIt(entry) });
  }
  return forgotten;
}

async function recordsOf(store: InspectableStore, scope: string | undefined): Promise<RawRecord[]> {
  const records = await store.inspect(scopePrefix(scope));
  // The history index is shared by every account: its entries of this one come along.
  if (scope === undefined) return records;
  const index = await store.inspect('mailsift-runs/');
  return [
    ...records,
    ...index.filter((raw) => (raw.record?.value as { scope?: string })?.scope === keySegment(scope)),
  ];
}

/** Records about `mailbox` (a checkpoint, deliveries, pending expunges of it), or all without one. */
function aboutMailbox(raw: RawRecord, mailbox: string | undefined): boolean {
  if (mailbox === undefined) return true;
  const entry = catalogue(raw.key);
  if (entry.kind === 'checkpoint') return entry.parts[1] === mailbox;
  if (entry.kind === 'deliveries' || entry.kind === 'pending expunge') return entry.parts[0] === mailbox;
  return false;
}

/** What a run does while the record is damaged and still there: `unreadable`, no record at all. */
function whileDamaged(entry: CataloguedKey, unreadable: boolean): string {
  if (entry.kind === 'history entry' || entry.kind === 'history index')
    return 'mailsift history lists it as unreadable; that run cannot be undone';
  if (unreadable)
    return 'the next run of the account stops at it, naming it, until it is set aside (mailsift state repair)';
  if (entry.kind === 'checkpoint') return 'the next run scans that mailbox in full ("checkpoint unreadable")';
  return 'a run may stop at it or misread it: set it aside (mailsift state repair)';
}

/**
 * A run going on may be rewriting the very records: refuses where one of `touched` is of an account whose lease a
 * live run holds. A damaged lease holds nothing (it is what repair is for), nor one whose process here is gone.
 */
function refuseWhileHeld(
  records: readonly RawRecord[],
  touched: readonly { readonly account?: string }[],
  verb: string,
  now: number,
): void {
  const busy = new Set<string>();
  for (const raw of records) {
    const entry = catalogue(raw.key);
    if (entry.kind !== 'lease' || entry.account === undefined || !raw.record) continue;
    if (damageOf(entry, raw.record.value) !== undefined) continue;
    if (holdsAccount(raw.record.value as LeaseHolder, now, THIS_MACHINE)) busy.add(entry.account);
  }
  const held = touched.find((each) => each.account !== undefined && busy.has(each.account));
  if (held) throw new UsageError(`a run of ${held.account} holds its lease: ${verb} once the run has ended`);
}
