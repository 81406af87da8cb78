import type { ImapAccount } from '../../imap/session.ts';
import type { Ruleset } from '../../rules/schema.ts';
import { parseDuration } from '../../rules/units.ts';
import {
  DEFAULT_HISTORY_MS,
  type JournalEntry,
  type JournalRule,
  newRunId,
  RunJournal,
} from '../../state/run-journal.ts';
import { accountScope, type StateStore } from '../../state/store.ts';

/** DynamoDB keeps items up to 400 KB: an entry larger than this keeps its counts, not every UID. */
const MAX_ENTRY_BYTES = 300_000;

/**
 * Collects what one real run of a ruleset changed, rule by rule, and writes it to the account's journal when the
 * ruleset ends; a run that changed nothing leaves no entry. The summary then names the run (`runId`), for
 * `mailsift history` and `mailsift undo`.
 */
export class RunRecorder {
  private readonly rules: JournalRule[] = [];
  private readonly journal: RunJournal;
  readonly id: string;

  constructor(
    private readonly ruleset: Ruleset,
    state: StateStore,
    account: ImapAccount,
    private readonly started: number,
    private readonly undoes?: string,
  ) {
    this.journal = new RunJournal(state, accountScope(account));
    this.id = newRunId(new Date(started));
  }

  add(rule: JournalRule): void {
    this.rules.push(rule);
  }

  /** Writes the entry; the summary's `runId`, or `historyError` when the journal could not be written. */
  async write(): Promise<{ runId: string } | { historyError: string } | undefined> {
    if (this.rules.length === 0) return undefined;
    let entry: JournalEntry = {
      id: this.id,
      ruleset: this.ruleset.name,
      account: this.ruleset.account,
      startedAt: new Date(this.started).toISOString(),
      endedAt: new Date().toISOString(),
      rules: this.rules,
      ...(this.undoes ? { undoes: this.undoes } : {}),
    };
    // What undo can do without goes first (samples, posts, Message-IDs), the UIDs only if that is not enough.
    if (JSON.stringify(entry).length > MAX_ENTRY_BYTES) entry = withoutExtras(entry);
    if (JSON.stringify(entry).length > MAX_ENTRY_BYTES) entry = withoutUids(entry);
    try {
      await this.journal.write(
        entry,
        this.ruleset.keepHistory === undefined ? DEFAULT_HISTORY_MS : parseDuration(this.ruleset.keepHistory),
      );
      return { runId: this.id };
    } catch (error) {
      return {
        historyError: `the run's changes are done but not in its history: ${(error as Error).message}`,
      };
    }
  }
}

/**
 * The entry without what only reports use: samples, webhook posts, and Message-IDs (where COPYUID gave the new UIDs;
 * without it they are how an undo finds the messages, and stay).
 */
function withoutExtras(entry: JournalEntry): JournalEntry {
  return {
    ...entry,
    rules: entry.rules.map(({ sample: _sample, ...rule }) => ({
      ...rule,
      actions: rule.actions.map(({ posted: _posted, ...action }) => {
        if (!action.to?.uids || !action.to.messageIds) return action;
        const { messageIds: _ids, ...to } = action.to;
        return { ...action, to };
      }),
    })),
  };
}

/** The entry with counts only: too many scattered UIDs to keep (an undo then says it cannot). */
function withoutUids(entry: JournalEntry): JournalEntry {
  return {
    ...entry,
    rules: entry.rules.map((rule) => ({
      ...rule,
      actions: rule.actions.map(({ type, target, count }) => ({
        type,
        ...(target ? { target } : {}),
        count,
        uids: '',
      })),
    })),
  };
}
