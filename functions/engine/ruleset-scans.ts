import type { ImapSession, MailboxInfo } from '../imap/session.ts';
import type { Rule, Ruleset } from '../rules/schema.ts';
import { parseDuration } from '../rules/units.ts';
import type { Checkpoint, Checkpoints } from '../state/checkpoints.ts';
import {
  type Candidates,
  candidateSet,
  changesSince,
  durationsOf,
  type GroupPlan,
  needsCandidates,
  planGroup,
  type RuleScan,
  ruleScan,
  rulesByMailbox,
  rulesDigest,
} from './scan.ts';
import { describeError, type ErrorSummary } from './summary.ts';

/** The rules of one ruleset on one mailbox: one checkpoint, because `stop` and failures tie them together. */
interface Group {
  readonly rules: readonly Rule[];
  readonly digest: string;
  readonly durations: readonly number[];
  plan?: GroupPlan;
  /** The UIDs that changed since the checkpoint (one index-only SEARCH as the group starts); none if unchanged. */
  candidates: Candidates;
  /** Rules of the group that ended, and whether each left nothing for a later run. */
  readonly ended: Map<string, boolean>;
  /** The highest MODSEQ the group's own changes were answered with (ImapSession.modseqReached). */
  reached?: bigint;
}

/**
 * The scans of one ruleset's run: per mailbox its rules look at, the checkpoint read as the first of them starts,
 * a full or incremental scan per rule, and a new checkpoint written once every rule of the group ended cleanly
 * (never in a dry run). One checkpoint per group rather than per rule: a rule's matches depend on what the
 * earlier rules on the same mailbox held back (`stop`, a failure), so they must all look at the same messages.
 */
export class RulesetScans {
  private readonly groups = new Map<string, Group>();
  private readonly checkpoints: Checkpoints;
  private readonly options: { readonly now: Date; readonly dryRun: boolean; readonly fullScan: boolean };
  private readonly fullScanEveryMs: number;
  /** The mailbox of the rule that ran last, to tell when another group's rule ran in between. */
  private lastPath?: string;

  constructor(
    ruleset: Ruleset,
    checkpoints: Checkpoints,
    options: { readonly now: Date; readonly dryRun: boolean; readonly fullScan: boolean },
  ) {
    this.checkpoints = checkpoints;
    this.options = options;
    this.fullScanEveryMs = parseDuration(ruleset.fullScanEvery);
    for (const [mailbox, rules] of rulesByMailbox(ruleset)) {
      this.groups.set(mailbox, {
        rules,
        digest: rulesDigest(rules, mailbox),
        durations: durationsOf(rules),
        candidates: { uids: [], interleaved: false },
        ended: new Map(),
      });
    }
  }

  /**
   * SELECTs (EXAMINEs) the rule's mailbox and says how its SEARCH looks at it. The group's first rule reads the
   * checkpoint and, where one is used, looks for what changed since (one SEARCH of UIDs, MODSEQ, dates).
   */
  async open(
    session: ImapSession,
    rule: Rule,
    path: string,
  ): Promise<{ mailbox: MailboxInfo; scan: RuleScan }> {
    const group = this.groupOf(path);
    const interleaved = this.lastPath !== undefined && this.lastPath !== path;
    this.lastPath = path;
    if (group.plan) {
      const mailbox = await session.openMailbox(path, this.options.dryRun);
      if (interleaved) group.candidates = { ...group.candidates, interleaved: true };
      return { mailbox, scan: this.scanOf(session, rule, path, group, group.plan) };
    }
    const { mailbox, plan } = await this.plan(session, path, group);
    if (needsCandidates(plan, group.durations, mailbox.justSelected) && plan.since) {
      // Index-only (UID, MODSEQ, INTERNALDATE), so cheap on any server; the rules' own SEARCHes, which may read
      // headers and bodies, then look at just these messages.
      const changed = await session.searchUids(changesSince(plan.since, this.searchContext(session, group)));
      group.candidates = { uids: candidateSet(changed, session.profile.maxUidSetLength), interleaved: false };
    }
    return { mailbox, scan: this.scanOf(session, rule, path, group, plan) };
  }

  /** Reads the group's checkpoint, selects its mailbox and decides. */
  private async plan(session: ImapSession, path: string, group: Group) {
    const { now, dryRun, fullScan } = this.options;
    // Read under --full too, tolerantly: a damaged one is set aside, not overwritten, when the new one is saved.
    const stored = await this.checkpoints.load(path, { tolerant: fullScan });
    const checkpoint = fullScan ? undefined : stored;
    const mailbox = await session.openMailbox(path, dryRun);
    const plan = planGroup({
      checkpoint,
      digest: group.digest,
      mailbox,
      now,
      fullScan,
      fullScanEveryMs: this.fullScanEveryMs,
    });
    group.plan = plan;
    return { mailbox, plan };
  }

  /**
   * The rule ended; `clean` when it acted on everything it matched (no failure, nothing left for `limit`, nothing
   * unreadable). After the group's last rule, a clean group's checkpoint is written; a failed write is returned.
   */
  async end(
    rule: Rule,
    path: string,
    outcome: { readonly clean: boolean; readonly reached?: bigint },
  ): Promise<ErrorSummary | undefined> {
    const group = this.groupOf(path);
    group.ended.set(rule.name, outcome.clean);
    if (outcome.reached !== undefined && (group.reached === undefined || outcome.reached > group.reached))
      group.reached = outcome.reached;
    const next = reached(group);
    const last = group.rules.at(-1)?.name === rule.name;
    if (!last || !next || this.options.dryRun) return undefined;
    if (group.ended.size < group.rules.length || [...group.ended.values()].some((each) => !each))
      return undefined;
    if (this.nothingNew(group)) return undefined;
    try {
      await this.checkpoints.save(path, next);
      return undefined;
    } catch (error) {
      const { error: reason, errorType } = describeError(error);
      return {
        error: `its checkpoint was not saved (${reason}); the next run looks again at what this one did`,
        errorType,
      };
    }
  }

  /** An incremental run, an unchanged mailbox, no time window: the new checkpoint would say what the stored one says. */
  private nothingNew(group: Group): boolean {
    const { since, next, fullReason } = group.plan ?? {};
    return (
      group.reached === undefined &&
      fullReason === undefined &&
      since !== undefined &&
      next !== undefined &&
      group.durations.length === 0 &&
      since.uidNext === next.uidNext &&
      since.highestModseq === next.highestModseq
    );
  }

  private scanOf(session: ImapSession, rule: Rule, path: string, group: Group, plan: GroupPlan): RuleScan {
    return ruleScan(rule, path, plan, this.searchContext(session, group), group.candidates);
  }

  private searchContext(session: ImapSession, group: Group) {
    return {
      now: this.options.now,
      hasWithin: session.profile.within,
      hasGmailSearch: session.profile.labels,
      durations: group.durations,
    };
  }

  private groupOf(path: string): Group {
    const group = this.groups.get(path);
    if (!group) throw new Error(`no rules of this ruleset look at ${JSON.stringify(path)}`);
    return group;
  }
}

/**
 * The group's new checkpoint; where its rules changed the mailbox, with the HIGHESTMODSEQ the server said those
 * changes took it to (mod-sequences only grow, RFC 7162 §3.1.1): a mailbox found below it was put back from a
 * backup, even one taken just before this run's SELECT (scan.ts).
 */
function reached(group: Group): Checkpoint | undefined {
  const next = group.plan?.next;
  if (!next || group.reached === undefined || group.reached <= next.highestModseq) return next;
  return { ...next, reachedModseq: group.reached };
}
