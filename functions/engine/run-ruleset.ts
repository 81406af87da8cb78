import { ImapConnectError } from '../errors.ts';
import type { MailboxInfo } from '../imap/session.ts';
import type { Ruleset } from '../rules/schema.ts';
import { RulesetScans } from './ruleset-scans.ts';
import { type MailboxMemory, type RuleRun, runRule } from './run-rule.ts';
import { describeError, type ErrorSummary, type RuleSummary, ruleNotRun } from './summary.ts';
import { retryingThrottled, THROTTLE_DELAYS_MS } from './throttle-retry.ts';

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
  run: Omit<RuleRun, 'memoryOf' | 'ruleset' | 'scans'> & {
    readonly fullScan: boolean;
    readonly throttleDelaysMs?: readonly number[];
  },
  removedByEarlier: Map<string, Set<number>>,
): Promise<RulesetOutcome> {
  const rules: RuleSummary[] = [];
  const memory = rulesetMemory(removedByEarlier);
  const { memoryOf } = memory;
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
    const held = memory.heldBackNow();
    const tried = await retryingThrottled(
      () => runRule(rule, mailbox, { ...run, memoryOf, scans, ruleset: rulesetOf(ruleset) }),
      {
        delaysMs: run.throttleDelaysMs ?? THROTTLE_DELAYS_MS,
        dryRun: run.dryRun,
        shouldStop: run.shouldStop,
        beforeRetry: () => memory.restore(held),
      },
    );
    if (!('summary' in tried)) {
      await run.state.copyJournal?.endRule(undefined);
      // A lost connection ends the run; every other failure ends only this rule.
      if (tried.error instanceof ImapConnectError) lost = describeError(tried.error);
    }
    const summary =
      'summary' in tried ? tried.summary : ruleNotRun(rule, mailbox, describeError(tried.error));
    rules.push(counted({ ...summary, ...(tried.retries ? { retries: tried.retries } : {}) }));
  }
  return { rules, incomplete: false, lost };
}

function rulesetOf(ruleset: Ruleset) {
  return { name: ruleset.name, account: ruleset.account };
}

/**
 * Memory per mailbox (and UIDVALIDITY): `heldBack` holds within one ruleset; what a dry run would have moved
 * away holds for the account's later rulesets too. `heldBackNow` and `restore` put back what a rule that is run
 * again (throttle-retry.ts) held back on its refused try.
 */
function rulesetMemory(removedByEarlier: Map<string, Set<number>>) {
  const memory = new Map<string, MailboxMemory>();
  const memoryOf = (mailbox: MailboxInfo): MailboxMemory => {
    const key = `${mailbox.path}\u0000${mailbox.uidValidity}`;
    const removed = removedByEarlier.get(key) ?? new Set<number>();
    removedByEarlier.set(key, removed);
    const remembered = memory.get(key) ?? { heldBack: new Set<number>(), removed };
    memory.set(key, remembered);
    return remembered;
  };
  const heldBackNow = () => new Map([...memory].map(([key, each]) => [key, new Set(each.heldBack)]));
  const restore = (held: ReturnType<typeof heldBackNow>) => {
    for (const [key, each] of memory) {
      each.heldBack.clear();
      for (const uid of held.get(key) ?? []) each.heldBack.add(uid);
    }
  };
  return { memoryOf, heldBackNow, restore };
}
