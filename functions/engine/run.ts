import type { ImapAccount } from '../imap/session.ts';
import type { Ruleset } from '../rules/schema.ts';
import { type AccountJob, type RunOptions, runAccount } from './account-run.ts';
import type { RulesetSummary } from './summary.ts';

export type { LeaseMode, RunOptions } from './account-run.ts';
export type { RuleProgress } from './progress.ts';
export type { ActionSummary, MessageSample, RuleSummary, RulesetSummary } from './summary.ts';
export { hasFailed } from './summary.ts';

/** Runs one ruleset against one account (connect, lease, rules, release, logout). Never throws for IMAP trouble. */
export async function runRuleset(
  ruleset: Ruleset,
  account: ImapAccount,
  options: RunOptions,
): Promise<RulesetSummary> {
  const [summary] = await runAccount([{ ruleset, account }], options);
  return summary as RulesetSummary;
}

/**
 * Runs rulesets account by account (in the order each account first appears), one account run for all of an
 * account's rulesets: one connection, one login, one lease. `report` gets each summary as soon as it is ready.
 */
export async function runRulesets(
  jobs: readonly AccountJob[],
  options: RunOptions,
  report: (summary: RulesetSummary) => void,
): Promise<RulesetSummary[]> {
  const summaries: RulesetSummary[] = [];
  const accounts = [...new Set(jobs.map((job) => job.ruleset.account))];
  for (const name of accounts) {
    const own = jobs.filter((job) => job.ruleset.account === name);
    summaries.push(...(await runAccount(own, options, report)));
  }
  return summaries;
}
