import { stepOf } from '../engine/actions/index.ts';
import { deliveryMarks, withoutFinished } from '../engine/delivery-exclusions.ts';
import { flagOnlyChanges } from '../engine/flag-no-ops.ts';
import { allApplied, carries } from '../engine/match-algebra.ts';
import { type Explained, explainMatch, matchesOffline } from '../match/evaluate.ts';
import type { MessageFacts } from '../match/facts.ts';
import type { Rule, Ruleset } from '../rules/schema.ts';

/** What one rule did with the message, and why. */
export interface RuleOutcome {
  readonly rule: string;
  readonly outcome:
    | 'acts'
    | 'no match'
    | 'no change'
    | 'posted before'
    | 'other mailbox'
    | 'gone'
    | 'held back';
  /** Its match, explained: for every rule that looked at the message. */
  readonly explained?: Explained;
  readonly steps?: readonly string[];
  /** The earlier rule that moved, deleted or held the message back. */
  readonly by?: string;
}

/** What a ruleset does with one message, as a real run would: the rules that act, their steps, each rule's outcome. */
export interface Simulation {
  readonly acts: readonly string[];
  readonly actions: readonly string[];
  readonly rules: readonly RuleOutcome[];
}

/**
 * Runs a ruleset over one message offline, with a real run's semantics: a later rule sees the message only if no
 * earlier one moved or deleted it or said `stop`; a rule on another mailbox skips it; a flag-only rule skips it when
 * it would change nothing; a webhook skips what it posted (its keyword) and marks what it posts. Nothing is sent.
 * @throws OfflineEvaluationError for a rule that cannot be decided offline (gmailSearch)
 */
export function simulate(
  ruleset: Ruleset,
  message: MessageFacts,
  at: { mailbox: string; now: Date },
): Simulation {
  const flags = new Set(message.flags);
  const rules: RuleOutcome[] = [];
  let gone: string | undefined;
  let heldBy: string | undefined;
  for (const rule of ruleset.rules) {
    if ((rule.mailbox ?? ruleset.mailbox) !== at.mailbox) {
      rules.push({ rule: rule.name, outcome: 'other mailbox' });
      continue;
    }
    if (gone || heldBy) {
      rules.push({ rule: rule.name, outcome: gone ? 'gone' : 'held back', by: gone ?? heldBy });
      continue;
    }
    const outcome = ruleOutcome(rule, { ...message, flags }, at);
    rules.push(outcome);
    if (outcome.outcome === 'acts') {
      for (const step of rule.actions.map(stepOf)) {
        const change = step.definition.flagChange(step.params);
        for (const flag of change?.add ?? []) flags.add(flag);
        for (const flag of change?.remove ?? []) deleteFolded(flags, flag);
        const mark = step.definition.deliveryMark(step.params, rule.name);
        if (mark) flags.add(mark);
        // A move onto its own mailbox leaves the message where it is (moveTo says so at run time).
        const ontoItself = step.definition.key === 'moveTo' && step.params === at.mailbox;
        if (step.definition.removesMessages && !ontoItself) gone = rule.name;
      }
    }
    if (rule.stop && outcome.outcome !== 'no match' && outcome.outcome !== 'posted before')
      heldBy ??= rule.name;
  }
  const acting = rules.filter((each) => each.outcome === 'acts');
  return {
    acts: acting.map((each) => each.rule),
    actions: acting.flatMap((each) => each.steps ?? []),
    rules,
  };
}

function ruleOutcome(rule: Rule, message: MessageFacts, at: { now: Date }): RuleOutcome {
  const explained = explainMatch(rule.match, message, at);
  if (!explained.matched) return { rule: rule.name, outcome: 'no match', explained };
  const marks = deliveryMarks(rule);
  if (marks.length > 0 && !matchesOffline(withoutFinished(rule.match, marks), message, at)) {
    return { rule: rule.name, outcome: 'posted before', explained };
  }
  const changes = flagOnlyChanges(rule);
  if (changes && allApplied(changes, carries(message.flags)))
    return { rule: rule.name, outcome: 'no change', explained };
  const steps = rule.actions.map(stepOf).map((step) => step.definition.describe(step.params));
  return { rule: rule.name, outcome: 'acts', explained, steps };
}

function deleteFolded(flags: Set<string>, flag: string): void {
  for (const each of flags) if (each.toLowerCase() === flag.toLowerCase()) flags.delete(each);
}
