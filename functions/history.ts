import { allRuns, findRun, type JournalEntry, RunJournal } from './state/run-journal.ts';
import type { StateStore } from './state/store.ts';

export interface HistoryFilter {
  readonly account?: string;
  readonly ruleset?: string;
  /** Only runs started at or after this time (ms since the epoch). */
  readonly since?: number;
}

/** The journal entries a `mailsift history` asks for: one run by id, or every run the filter lets through. */
export async function historyEntries(
  state: StateStore,
  id: string | undefined,
  filter: HistoryFilter,
): Promise<JournalEntry[]> {
  if (id !== undefined) {
    const where = await findRun(state, id);
    const entry = where ? await new RunJournal(state, where.scope).get(id) : undefined;
    return entry ? [entry] : [];
  }
  const runs = (await allRuns(state)).filter(
    (run) =>
      (filter.account === undefined || run.account === filter.account) &&
      (filter.ruleset === undefined || run.ruleset === filter.ruleset),
  );
  const entries: JournalEntry[] = [];
  for (const run of runs) {
    const entry = await new RunJournal(state, run.scope).get(run.id);
    if (entry && (filter.since === undefined || Date.parse(entry.startedAt) >= filter.since))
      entries.push(entry);
  }
  return entries;
}
