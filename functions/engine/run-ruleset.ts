import { ImapConnectError } from '../errors.ts';
import type { MailboxInfo } from '../imap/session.ts';
import type { Ruleset } from '../rules/schema.ts';
import { RulesetScans } from './ruleset-scans.ts';
import { type MailboxMemory, type RuleRun, runRule } from './run-rule.ts';
import { describeError, type ErrorSummary, type RuleSummary, ruleNotRun } from './summary.ts';

/** How one ruleset's rules ended: their summaries, and whether the run stopped early or lost its connection. */
export interface RulesetOutcome {
  readonly rules: RuleSummary[];
  readonly incomplete: boolean;
  /** The connection was lost: the rules after it were not run. */
  readonly lost?: ErrorSummary;
}

/**
 * Runs a ruleset's rules in order on an open session, each rule's SEARCH seeing the mailbox as the previous
 * rules left it. `removedByEarlier` is the account run's dry-run memory (what earlier rulesets would have moved).
 */
export async function runRulesetRules(
  ruleset: Ruleset,
  run: Omit<RuleRun, 'memoryOf' | 'ruleset' | 'scans'> & { readonly fullScan: boolean },
  removedByEarlier: Map<string, Set<number>>,
): Promise<RulesetOutcome> {
  const rules: RuleSummary[] = [];
  const memoryOf = rulesetMemory(removedByEarlier);
  const scans = new RulesetScans(ruleset, run.state.checkpoints(ruleset.name), run);
  let lost: ErrorSummary | undefined;
  for (const rule of ruleset.rules) {
    // Out of time: stop between rules; the next scheduled run picks up (every action is idempotent).
    if (run.shouldStop?.()) return { rules, incomplete: true, lost };
    const mailbox = rule.mailbox ?? ruleset.mailbox;
    if (lost) {
      rules.push(ruleNotRun(rule, mailbox, { ...lost, error: `not run: ${lost.error}` }));
      continue;
    }
    const before = run.session.commands.length;
    const counted = (summary: Omit<RuleSummary, 'imapCommands'>) => ({
      ...summary,
      imapCommands: run.session.commands.length - before,
    });
    try {
      rules.push(
        counted(await runRule(rule, mailbox, { ...run, memoryOf, scans, ruleset: rulesetOf(ruleset) })),
      );
    } catch (error) {
      await run.state.copyJournal?.endRule(undefined);
      // A lost connection ends the run; every other failure ends only this rule.
      if (error instanceof ImapConnectError) lost = describeError(error);
      rules.push(counted(ruleNotRun(rule, mailbox, describeError(error))));
    }
  }
  return { rules, incomplete: false, lost };
}

function rulesetOf(ruleset: Ruleset) {
  return { name: ruleset.name, account: ruleset.account };
}

/**
 * Memory per mailbox (and UIDVALIDITY): `heldBack` holds within one ruleset; what a dry run would have moved
 * away holds for the account's later rulesets too.
 */
function rulesetMemory(removedByEarlier: Map<string, Set<number>>): (mailbox: MailboxInfo) => MailboxMemory {
  const memory = new Map<string, MailboxMemory>();
  return (mailbox) => {
    const key = `${mailbox.path}\u0000${mailbox.uidValidity}`;
    const removed = removedByEarlier.get(key) ?? new Set<number>();
    removedByEarlier.set(key, removed);
    const remembered = memory.get(key) ?? { heldBack: new Set<number>(), removed };
    memory.set(key, remembered);
    return remembered;
  };
}
