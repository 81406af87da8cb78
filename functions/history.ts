import { isInspectable } from './state/inspect.ts';
import { catalogue, damageOf } from './state/record-catalogue.ts';
import { allRuns, findRun, type JournalEntry, type RunIndexEntry, RunJournal } from './state/run-journal.ts';
import { type StateStore, StateStoreError } from './state/store.ts';

export interface HistoryFilter {
  readonly account?: string;
  readonly ruleset?: string;
  /** Only runs started at or after this time (ms since the epoch). */
  readonly since?: number;
}

/** A run the history knows of but cannot show: its entry (or its index record) is damaged. */
export interface UnreadableRun {
  readonly id: string;
  /** What is wrong, naming the file or item. */
  readonly why: string;
}

/**
 * The journal entries a `mailsift history` asks for: one run by id, or every run the filter lets through. A
 * damaged entry is not skipped silently: `unreadable` hears of each.
 */
export async function historyEntries(
  state: StateStore,
  id: string | undefined,
  filter: HistoryFilter,
  unreadable: (run: UnreadableRun) => void = () => {},
): Promise<JournalEntry[]> {
  if (id !== undefined) {
    const where = await findRun(state, id);
    const entry = where ? await readEntry(state, where.scope, id, unreadable) : undefined;
    return entry ? [entry] : [];
  }
  const runs = (await runIndex(state, unreadable)).filter(
    (run) =>
      (filter.account === undefined || run.account === filter.account) &&
      (filter.ruleset === undefined || run.ruleset === filter.ruleset),
  );
  const entries: JournalEntry[] = [];
  for (const run of runs) {
    const entry = await readEntry(state, run.scope, run.id, unreadable);
    if (entry && (filter.since === undefined || Date.parse(entry.startedAt) >= filter.since))
      entries.push(entry);
  }
  return entries;
}

async function readEntry(
  state: StateStore,
  scope: string,
  id: string,
  unreadable: (run: UnreadableRun) => void,
): Promise<JournalEntry | undefined> {
  try {
    const entry = await new RunJournal(state, scope).get(id);
    const damage = entry && damageOf({ kind: 'history entry', parts: [id] }, entry);
    if (damage) unreadable({ id, why: `its entry in ${state.description} is damaged: ${damage}` });
    return damage ? undefined : entry;
  } catch (error) {
    if (!(error instanceof StateStoreError)) throw error;
    unreadable({ id, why: error.message });
    return undefined;
  }
}

/** Every run indexed, newest first; on a store that can say so, index records that are damaged too. */
async function runIndex(
  state: StateStore,
  unreadable: (run: UnreadableRun) => void,
): Promise<(RunIndexEntry & { id: string })[]> {
  if (!isInspectable(state)) return await allRuns(state);
  const runs: (RunIndexEntry & { id: string })[] = [];
  for (const raw of await state.inspect('mailsift-runs/')) {
    if (catalogue(raw.key).kind === 'set aside') continue;
    const id = raw.key.slice('mailsift-runs/'.length);
    const damage = raw.unreadable ?? damageOf({ kind: 'history index', parts: [id] }, raw.record?.value);
    if (damage) unreadable({ id, why: `${raw.where}: ${damage}` });
    else runs.push({ ...(raw.record?.value as RunIndexEntry), id });
  }
  return runs.sort((a, b) => b.id.localeCompare(a.id));
}
