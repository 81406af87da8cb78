import { MailsiftError } from '../errors.ts';
import type { ProfileFacts } from '../imap/server-profile.ts';
import { AccountBusyError } from '../state/lease.ts';

/** The summary contract: what a run reports, to the CLI (text or `--json`), to Lambda's logs and metrics. */
export interface ActionSummary {
  readonly type: string;
  readonly target?: string;
  readonly count: number;
}

export interface MessageSample {
  readonly uid: number;
  readonly date?: string;
  readonly from?: string;
  readonly subject?: string;
}

export interface MessageProblem {
  readonly uid: number;
  readonly reason: string;
}

export interface RuleSummary {
  readonly name: string;
  readonly mailbox: string;
  /** Messages the match selected (before `limit`). */
  readonly matched: number;
  /** Messages the actions were applied to (or would be, in a dry run); not those an action failed for. */
  readonly acted: number;
  /**
   * `incremental`: the SEARCH looked only at what changed since the last clean run (matched counts those);
   * `full`: at every message, for `scanReason` ("first run", "rule changed", "periodic", "--full", …).
   */
  readonly scan?: 'full' | 'incremental';
  readonly scanReason?: string;
  readonly actions: ActionSummary[];
  /** IMAP commands this rule sent. */
  readonly imapCommands: number;
  readonly sample?: MessageSample[];
  /** Messages an action failed for (a webhook that was not delivered); tried again on the next run. */
  readonly failed?: MessageProblem[];
  /** Messages SEARCH found whose client-side checks could not be made (left alone, not a rule failure). */
  readonly skipped?: MessageProblem[];
  /**
   * What mailsift remembered about this mailbox and did not believe (it was put back from a backup since),
   * and what it did instead; nothing was lost.
   */
  readonly warnings?: string[];
  /** Times the rule was run again because the server refused it for load (then it went through, or this failed). */
  readonly retries?: number;
  readonly error?: string;
  readonly errorType?: string;
}

export interface RulesetSummary {
  readonly ruleset: string;
  readonly account: string;
  readonly dryRun: boolean;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly rules: RuleSummary[];
  /** All IMAP commands of the run, connection and logout included. */
  readonly imapCommands: number;
  /** True when the run stopped early for its time budget; later rules wait for the next run. */
  readonly incomplete?: boolean;
  /**
   * Set when another run was working on the account: this run changed nothing (and is `incomplete`, not
   * failed); the next scheduled run goes ahead.
   */
  readonly busy?: { readonly holder: string; readonly until: string };
  /**
   * What about the server made this run take another way than on a full-featured one (no MOVE, no CONDSTORE,
   * keywords refused, Gmail's labels, …), from imap/server-profile.ts; absent when nothing did.
   */
  readonly server?: ProfileFacts;
  /** The run's id in the account's history (`mailsift history`, `mailsift undo RUN_ID`), when it changed anything. */
  readonly runId?: string;
  /** The run changed mail but its history entry could not be written: it cannot be undone by id. */
  readonly historyError?: string;
  /** Set when the run could not start (connection, TLS, login) or was cut short. */
  readonly error?: string;
  readonly errorType?: string;
}

export type ErrorSummary = { readonly error: string; readonly errorType: string };

/** Whether a run failed: the connection or any rule. */
export function hasFailed(summary: RulesetSummary): boolean {
  return summary.error !== undefined || summary.rules.some((rule) => rule.error !== undefined);
}

/** An error as the summary shows it: our own by its name, anything else as an internal error. */
export function describeError(error: unknown): ErrorSummary {
  if (error instanceof MailsiftError) return { error: error.message, errorType: error.name };
  return { error: error instanceof Error ? error.message : String(error), errorType: 'InternalError' };
}

export type SummaryBase = Pick<RulesetSummary, 'ruleset' | 'account' | 'dryRun' | 'startedAt'>;

/** The summary of a ruleset that could not start: no connection, no login, or the account was busy. */
export function notStarted(base: SummaryBase, started: number, error: unknown): RulesetSummary {
  const summary = { ...base, durationMs: Date.now() - started, rules: [], imapCommands: 0 };
  if (error instanceof AccountBusyError) {
    return { ...summary, incomplete: true, busy: { holder: error.holder, until: error.until } };
  }
  return { ...summary, ...describeError(error) };
}

/** The summary of a rule that did not get to act, with what stopped it. */
export function ruleNotRun(
  rule: { readonly name: string },
  mailbox: string,
  failure: ErrorSummary,
  imapCommands = 0,
): RuleSummary {
  return { name: rule.name, mailbox, matched: 0, acted: 0, actions: [], imapCommands, ...failure };
}
