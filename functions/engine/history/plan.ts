import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UsageError } from '../../errors.ts';
import { expandUidSetAtMost } from '../../imap/uid-set.ts';
import type { Rule, Ruleset } from '../../rules/schema.ts';
import {
  readWatermark,
  type StoredWatermark,
  storedWatermark,
  uidPastUidNext,
  type Watermark,
  wentBack,
} from '../../state/mailbox-watermark.ts';
import { journalSet } from '../../state/run-journal.ts';
import type { MessageSample } from '../summary.ts';

/**
 * A reviewed plan: what a dry run would do, rule by rule, as UIDs with their mailbox's UIDVALIDITY
 * (`mailsift run --dry-run --plan FILE`), for `mailsift apply FILE` to do exactly that and nothing else.
 */
export interface Plan {
  readonly format: 1;
  readonly createdAt: string;
  readonly rulesets: readonly PlannedRuleset[];
}

export interface PlannedRuleset {
  readonly ruleset: string;
  readonly account: string;
  /** The mailbox's user and host (`accountScope`): a plan applies to that mailbox only. */
  readonly scope: string;
  /** The ruleset's rules when the plan was made: `apply` refuses a plan whose rules changed since. */
  readonly digest: string;
  readonly rules: readonly PlannedRule[];
}

export interface PlannedRule {
  readonly name: string;
  readonly mailbox: string;
  readonly uidValidity: string;
  /** The messages the rule would act on, as a UID set. */
  readonly uids: string;
  /** The mailbox when the plan was made (plans of older versions lack it): apply refuses one that went back. */
  readonly at?: StoredWatermark;
  readonly actions: readonly Rule['actions'][number][];
  readonly sample?: readonly MessageSample[];
}

/** A fingerprint of a ruleset's rules and mailboxes, which apply compares with the plan's. */
export function planDigest(ruleset: Ruleset): string {
  return createHash('sha256')
    .update(JSON.stringify({ format: 1, mailbox: ruleset.mailbox, rules: ruleset.rules }))
    .digest('base64url');
}

/** Collects a dry run's rules into a plan, ruleset by ruleset. */
export class PlanRecorder {
  private readonly rulesets: PlannedRuleset[] = [];

  /** The collector one ruleset's rules report to. */
  forRuleset(ruleset: Ruleset, scope: string): { add(rule: PlannedRule): void } {
    const rules: PlannedRule[] = [];
    this.rulesets.push({
      ruleset: ruleset.name,
      account: ruleset.account,
      scope,
      digest: planDigest(ruleset),
      rules,
    });
    return { add: (rule) => rules.push(rule) };
  }

  plan(now = new Date()): Plan {
    return { format: 1, createdAt: now.toISOString(), rulesets: this.rulesets };
  }
}

/** What `apply` lets a rule act on: the planned UIDs where its mailbox is still the planned one, else none. */
export interface PlanLimits {
  /**
   * The planned UIDs the rule may act on in `mailbox`; with `refused`, why none of them may (then `uids` is empty):
   * the mailbox was created again since the plan, or the plan names more messages than it holds. Undefined: the
   * rule is not in the plan and acts on nothing.
   */
  uidsOf(
    where: { readonly scope: string; readonly ruleset: string; readonly rule: string },
    mailbox: { readonly path: string; readonly uidValidity: bigint; readonly exists: number } & Watermark,
  ): { readonly uids: ReadonlySet<number>; readonly refused?: string } | undefined;
}

export function planLimits(plan: Plan): PlanLimits {
  return {
    uidsOf(where, mailbox) {
      const planned = plan.rulesets
        .find((entry) => entry.ruleset === where.ruleset && entry.scope === where.scope)
        ?.rules.find((entry) => entry.name === where.rule && entry.mailbox === mailbox.path);
      if (!planned) return undefined;
      if (planned.uidValidity !== mailbox.uidValidity.toString()) {
        const why = `${mailbox.path} was created again since the plan (its UIDVALIDITY changed): the planned UIDs name other messages now`;
        return { uids: new Set(), refused: why };
      }
      // A hand-edited plan cannot name more messages than the mailbox holds (nor exhaust memory trying).
      const uids = expandUidSetAtMost(planned.uids, mailbox.exists);
      if (!uids)
        return { uids: new Set(), refused: `the plan names more messages than ${mailbox.path} holds` };
      const back = wentBackSince(planned, uids, mailbox);
      return back ? { uids: new Set(), refused: back } : { uids: new Set(uids) };
    },
  };
}

/**
 * Why the mailbox is not as the plan saw it though its UIDVALIDITY is: it went back (put back from a backup,
 * RFC 3501 §2.3.1.1 promises UIDNEXT never does), so the planned UIDs may name other messages now.
 */
function wentBackSince(planned: PlannedRule, uids: readonly number[], mailbox: Watermark & { path: string }) {
  const at = readWatermark(planned.at);
  const highest = uidPastUidNext(uids, mailbox.uidNext);
  const reason =
    (at && wentBack(at, mailbox)) ??
    (highest !== undefined ? `UIDNEXT ${mailbox.uidNext} <= planned UID ${highest}` : undefined);
  return reason
    ? `${mailbox.path} went back since the plan (${reason}; restored from a backup?): the planned UIDs may name other messages now`
    : undefined;
}

export function plannedRule(
  rule: Rule,
  mailbox: { readonly path: string; readonly uidValidity: bigint } & Watermark,
  uids: readonly number[],
  sample?: readonly MessageSample[],
): PlannedRule {
  return {
    name: rule.name,
    mailbox: mailbox.path,
    uidValidity: mailbox.uidValidity.toString(),
    uids: journalSet(uids),
    at: storedWatermark(mailbox),
    actions: rule.actions,
    ...(sample ? { sample } : {}),
  };
}

/**
 * Reads a plan file, checking its shape (a hand-edited plan must not act on what nobody planned).
 * @throws UsageError naming the file and what is wrong.
 */
export function readPlan(file: string): Plan {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read plan ${file} (${(error as NodeJS.ErrnoException).code ?? 'not JSON'})`);
  }
  const plan = data as Partial<Plan>;
  const rulesOk = (rules: unknown) =>
    Array.isArray(rules) &&
    rules.every(
      (rule: Partial<PlannedRule>) =>
        typeof rule.name === 'string' &&
        typeof rule.mailbox === 'string' &&
        /^\d+$/.test(String(rule.uidValidity)) &&
        /^(\d+(:\d+)?)?(,\d+(:\d+)?)*$/.test(String(rule.uids)),
    );
  const ok =
    plan?.format === 1 &&
    Array.isArray(plan.rulesets) &&
    plan.rulesets.every(
      (entry) =>
        typeof entry.ruleset === 'string' &&
        typeof entry.scope === 'string' &&
        typeof entry.digest === 'string' &&
        rulesOk(entry.rules),
    );
  if (!ok) throw new UsageError(`${file} is not a mailsift plan (from mailsift run --dry-run --plan FILE)`);
  return plan as Plan;
}
