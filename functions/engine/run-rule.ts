import { ImapConnectError, PlanError } from '../errors.ts';
import type { ImapSession, MailboxInfo } from '../imap/session.ts';
import type { Rule } from '../rules/schema.ts';
import type { SecretResolver } from '../secrets/resolve.ts';
import type { JournalAction, JournalRule } from '../state/run-journal.ts';
import { journalSet, orderedSet } from '../state/run-journal.ts';
import type { AccountState } from './account-state.ts';
import { type ActionStep, applyStep, type ServerFacts, stepOf } from './actions/index.ts';
import type { ActionOutcome } from './actions/types.ts';
import { finishInterruptedExpunges } from './finish-expunges.ts';
import { type PlanLimits, type PlannedRule, plannedRule } from './history/plan.ts';
import { sampleOf } from './history/rule-sample.ts';
import type { RuleProgress } from './progress.ts';
import type { RulesetScans } from './ruleset-scans.ts';
import { selectMessages } from './select-messages.ts';
import {
  type ActionSummary,
  describeError,
  type ErrorSummary,
  type MessageProblem,
  type MessageSample,
  type RuleSummary,
} from './summary.ts';

/** How many matched messages a dry run shows per rule. */

/** Per mailbox (and UIDVALIDITY): messages later rules must not see again. */
export interface MailboxMemory {
  /** Matched by a rule with `stop: true`, or by a rule that failed: later rules assume it acted on them. */
  readonly heldBack: Set<number>;
  /** Moved or deleted by an earlier rule; only a dry run needs this, a real run's SEARCH no longer sees them. */
  readonly removed: Set<number>;
}

/** Everything a rule runs with, from its account run and ruleset. */
export interface RuleRun {
  readonly session: ImapSession;
  readonly state: AccountState;
  readonly dryRun: boolean;
  readonly now: Date;
  readonly secrets: SecretResolver;
  readonly ruleset: { readonly name: string; readonly account: string };
  /** The memory of `mailbox` for this ruleset (and, for `removed`, the account's earlier rulesets). */
  readonly memoryOf: (mailbox: MailboxInfo) => MailboxMemory;
  /** The ruleset's checkpoints: whether each rule scans in full or only what changed. */
  readonly scans: RulesetScans;
  readonly shouldStop?: () => boolean;
  readonly onProgress?: (progress: RuleProgress) => void;
  /** Where a real run writes down what each rule changed (history, undo); absent in dry runs. */
  readonly journal?: { add(rule: JournalRule): void };
  /** A dry run with `--plan`: where each rule's messages go, for `mailsift apply`. */
  readonly planner?: { add(rule: PlannedRule): void };
  /** `mailsift apply`: a rule acts on the planned messages only, those that still match it. */
  readonly plan?: PlanLimits;
}

/**
 * Runs one rule: SELECT (EXAMINE in a dry run), finish an interrupted expunge of ours where the rule expunges,
 * select the messages, check every action can act, then apply the actions in order, each to the messages the one
 * before passed on. A lost connection is thrown; every other failure ends only this rule, in its summary.
 */
export async function runRule(
  rule: Rule,
  mailboxPath: string,
  run: RuleRun,
): Promise<Omit<RuleSummary, 'imapCommands'>> {
  const { session } = run;
  const { mailbox, scan } = await run.scans.open(session, rule, mailboxPath);
  const steps = rule.actions.map(stepOf);
  const facts = serverFacts(session, mailbox, run.dryRun);
  // Before expunging anything, finish what an earlier run of ours marked for expunging and then lost the
  // connection over; nothing else would ever match those messages again (SEARCH skips \Deleted).
  const mayExpunge = steps.some((step) => step.definition.mayExpunge(step.params, facts));
  const resumed =
    !run.dryRun && mayExpunge
      ? await finishInterruptedExpunges(session, run.state, mailbox)
      : { finished: 0, forgotten: [] };
  const memory = run.memoryOf(mailbox);
  const heldBack = new Set([...memory.heldBack, ...memory.removed]);
  const { matched, actionable, skipped } = await selectMessages(session, rule, mailbox, {
    now: run.now,
    state: run.state,
    heldBack,
    searchesKeyword: (keyword) => !run.dryRun && session.canStore(keyword),
    refreshDeliveries: !run.dryRun,
    scan,
  });
  const planned = run.plan ? withinPlan(run, rule, mailbox, actionable) : undefined;
  // Oldest first: the rest wait for the next run, which picks up where this one stopped.
  const acted = (planned?.acted ?? actionable).slice(0, rule.limit);
  // A dry run shows a sample; a real run keeps one in its history (`mailsift history RUN_ID`), with the
  // Message-IDs of what it moves: one FETCH of envelopes per rule that acts.
  const moves = steps.some((step) => step.definition.relocates(step.params, session.profile));
  const { sample, messageIds } =
    run.dryRun || run.journal
      ? await sampleOf(session, acted, { messageIds: moves && !run.dryRun })
      : { sample: undefined, messageIds: undefined };
  run.planner?.add(plannedRule(rule, mailbox, acted, sample));
  const applied = await applySteps(steps, facts, { rule, mailbox, acted, matched, run, messageIds });
  await run.state.copyJournal?.endRule({
    ruleset: run.ruleset.name,
    rule: rule.name,
    source: mailbox,
    matched,
    acted,
    error: applied.failure !== undefined,
    failedUids: new Set(applied.failed.map((entry) => entry.uid)),
  });
  recordApplied(run, rule, mailbox, applied.journal, sample);
  if (rule.stop || applied.failure) for (const uid of matched) memory.heldBack.add(uid);
  if (run.dryRun) for (const uid of applied.removed) memory.removed.add(uid);
  const actions: ActionSummary[] = [
    ...(resumed.finished > 0 ? [{ type: 'finishInterruptedExpunge', count: resumed.finished }] : []),
    ...applied.actions,
  ];
  const failure = applied.failure ?? deliveryFailure(applied.failed, acted.length);
  // Clean: nothing this rule matched waits for a later run, so its checkpoint may move past it.
  const clean = !failure && skipped.length === 0 && acted.length === actionable.length;
  const unsaved = await run.scans.end(rule, mailboxPath, { clean, reached: session.modseqReached() });
  const warnings = [...resumed.forgotten, ...run.state.takeWarnings()];
  return {
    name: rule.name,
    mailbox: mailbox.path,
    matched: matched.length,
    // What an action failed for (a webhook not delivered) was not acted on: it waits for the next run.
    acted: acted.length - new Set(applied.failed.map((entry) => entry.uid)).size,
    ...(scan.scan === 'full' ? { scan: 'full', scanReason: scan.scanReason } : { scan: 'incremental' }),
    actions,
    ...(run.dryRun ? { sample } : {}),
    ...(applied.failed.length > 0 ? { failed: applied.failed } : {}),
    ...(skipped.length > 0 || planned?.skipped.length
      ? { skipped: [...skipped, ...(planned?.skipped ?? [])] }
      : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
    ...(failure ?? unsaved),
  };
}

/**
 * What the server lets the rule's actions do. An EXAMINEd mailbox shows no PERMANENTFLAGS (it is read-only, RFC
 * 3501 §6.3.2), so a dry run takes every flag as storable, as the real run on a server that keeps keywords.
 */
function serverFacts(session: ImapSession, mailbox: MailboxInfo, dryRun: boolean): ServerFacts {
  return {
    hasMove: session.profile.move,
    hasUidPlus: session.profile.uidPlus,
    canStore: (flag) => dryRun || session.canStore(flag),
    mailbox: mailbox.path,
    permanentFlags: [...mailbox.permanentFlags],
    assertNameable: (name) => session.assertNameable(name),
  };
}

interface Applied {
  readonly actions: ActionSummary[];
  /** What the actions changed, for the run's journal (real runs). */
  readonly journal: JournalAction[];
  readonly failed: MessageProblem[];
  /** The messages a dry run's actions would have moved or deleted. */
  readonly removed: readonly number[];
  readonly failure?: ErrorSummary;
}

/**
 * Checks every step can act (nothing is changed when one cannot), then applies them in order; the first that
 * throws ends the rule, since later actions assume the earlier ones happened.
 */
async function applySteps(
  steps: readonly ActionStep[],
  facts: ServerFacts,
  target: {
    rule: Rule;
    mailbox: MailboxInfo;
    acted: readonly number[];
    matched: readonly number[];
    run: RuleRun;
    /** Of the acted-on messages, for the journal of moves. */
    messageIds?: ReadonlyMap<number, string>;
  },
): Promise<Applied> {
  const { rule, mailbox, run } = target;
  const applied: Omit<Applied, 'failure'> & { removed: number[] } = {
    actions: [],
    journal: [],
    failed: [],
    removed: [],
  };
  const report = progressReporter(rule, target, run);
  try {
    for (const step of steps) step.definition.preflight(step.params, facts);
  } catch (error) {
    return { ...applied, failure: describeError(error) };
  }
  report(0, 0);
  let uids = target.acted;
  for (const [index, step] of steps.entries()) {
    report(index + 1, 0);
    try {
      const outcome = await applyStep(step, {
        ...run,
        mailbox,
        uids,
        rule,
        recording: run.journal !== undefined,
        messageIds: target.messageIds,
        onlyAction: steps.length === 1,
        progress: (done) => report(index + 1, done),
      });
      report(index + 1, uids.length);
      applied.actions.push({ type: outcome.type, target: outcome.target, count: outcome.count });
      if (!run.dryRun && outcome.count > 0)
        applied.journal.push(journalAction(outcome, uids, target.messageIds));
      if (step.definition.removesMessages && outcome.removesMessages !== false) applied.removed.push(...uids);
      applied.failed.push(...(outcome.failures ?? []));
      // Later actions apply only to the messages this one passed on (a webhook: the delivered ones).
      uids = outcome.continueWith ?? uids;
    } catch (error) {
      if (error instanceof ImapConnectError) {
        // What the rule did before the connection went is in the history too: a rerun will not find it again.
        recordApplied(run, rule, mailbox, applied.journal);
        throw error;
      }
      return { ...applied, failure: describeError(error) };
    }
  }
  return applied;
}

function progressReporter(
  rule: Rule,
  target: { acted: readonly number[]; matched: readonly number[] },
  run: RuleRun,
) {
  return (action: number, done: number) =>
    run.onProgress?.({
      ruleset: run.ruleset.name,
      rule: rule.name,
      matched: target.matched.length,
      acted: target.acted.length,
      action,
      actions: rule.actions.length,
      actionType: action > 0 ? Object.keys(rule.actions[action - 1] ?? {})[0] : undefined,
      done,
    });
}

/**
 * `apply`: of the messages the rule would act on now, the planned ones; planned ones it would not act on any
 * more (gone, changed, or its mailbox recreated) are reported as skipped. New mail is not in the plan.
 */
function withinPlan(run: RuleRun, rule: Rule, mailbox: MailboxInfo, actionable: readonly number[]) {
  const planned = run.plan?.uidsOf(
    { scope: run.state.scope, ruleset: run.ruleset.name, rule: rule.name },
    mailbox,
  );
  if (!planned) return { acted: [], skipped: [] };
  // The rule fails, having done nothing: no planned UID names its message any more.
  if (planned.refused) throw new PlanError(planned.refused);
  const uids = planned.uids;
  const now = new Set(actionable);
  const skipped: MessageProblem[] = [...uids]
    .filter((uid) => !now.has(uid))
    .map((uid) => ({
      uid,
      reason: 'planned, but no longer matches its rule here (changed, moved or gone since)',
    }));
  return { acted: actionable.filter((uid) => uids.has(uid)), skipped };
}

function recordApplied(
  run: RuleRun,
  rule: Rule,
  mailbox: MailboxInfo,
  actions: JournalAction[],
  sample?: readonly MessageSample[],
): void {
  if (actions.length === 0) return;
  run.journal?.add({
    name: rule.name,
    mailbox: mailbox.path,
    uidValidity: mailbox.uidValidity.toString(),
    actions,
    ...(sample && sample.length > 0 ? { sample } : {}),
  });
}

/** An action's outcome as the journal keeps it: UID sets as ranges, the COPYUID map in the order of `uids`. */
function journalAction(
  outcome: ActionOutcome,
  uids: readonly number[],
  messageIds?: ReadonlyMap<number, string>,
): JournalAction {
  const { to, changed, expunged, posted } = outcome.record ?? {};
  const copied = to?.copied;
  const newUids = copied ? uids.map((uid) => copied.uids.get(uid)) : [];
  const mapped = copied !== undefined && newUids.every((uid) => uid !== undefined);
  const trail = to?.trail;
  return {
    type: outcome.type,
    ...(outcome.target ? { target: outcome.target } : {}),
    uids: journalSet(uids),
    count: outcome.count,
    ...(to
      ? {
          to: {
            mailbox: to.mailbox,
            ...(mapped
              ? { uidValidity: copied.uidValidity.toString(), uids: orderedSet(newUids as number[]) }
              : {}),
            ...(!mapped && trail
              ? {
                  ...(trail.uidValidity ? { uidValidity: trail.uidValidity } : {}),
                  uidNext: trail.uidNext,
                  messageIds: trail.messageIds,
                }
              : {}),
            // Where the user moves them since, an undo finds them by these (ascending UIDs, as `uids`).
            ...(!trail && messageIds
              ? { messageIds: [...uids].sort((a, b) => a - b).map((uid) => messageIds.get(uid) ?? null) }
              : {}),
          },
        }
      : {}),
    ...(changed
      ? {
          changed: Object.fromEntries(
            Object.entries(changed).map(([flag, list]) => [flag, journalSet(list)]),
          ),
        }
      : {}),
    ...(expunged ? { expunged } : {}),
    ...(posted ? { posted } : {}),
  };
}

/** A webhook that failed for some messages fails its rule (after acting on the rest). */
function deliveryFailure(failed: readonly MessageProblem[], acted: number): ErrorSummary | undefined {
  if (failed.length === 0) return undefined;
  return {
    error: `${failed.length} of ${acted} messages failed: ${failed[0]?.reason}`,
    errorType: 'DeliveryError',
  };
}
