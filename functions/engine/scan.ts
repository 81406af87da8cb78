import { createHash } from 'node:crypto';
import type { MailboxInfo, SearchObject } from '../imap/session.ts';
import { toRanges } from '../imap/uid-set.ts';
import type { Match, Rule, Ruleset } from '../rules/schema.ts';
import { parseDuration } from '../rules/units.ts';
import { type Checkpoint, UNREADABLE } from '../state/checkpoints.ts';
import { wentBack } from '../state/mailbox-watermark.ts';
import { stepOf } from './actions/index.ts';
import { deliveryMarks } from './delivery-exclusions.ts';

/**
 * How a rule's SEARCH looks at its mailbox in this run. `full`: every message, and why. `incremental`: only the
 * messages that can have changed since the checkpoint (`changes`, ANDed to the rule's own SEARCH); without
 * `changes` nothing can have changed and no SEARCH is sent.
 */
export type RuleScan =
  | { readonly scan: 'full'; readonly scanReason: string }
  | { readonly scan: 'incremental'; readonly changes?: SearchObject };

/** What a group of rules (one ruleset, one mailbox) does this run, and the checkpoint a clean run leaves. */
export interface GroupPlan {
  /** Why every rule of the group scans in full; undefined: incremental from `since`. */
  readonly fullReason?: string;
  readonly since?: Checkpoint;
  /** Written once every rule of the group ended cleanly; undefined where none can be kept (no CONDSTORE). */
  readonly next?: Checkpoint;
}

/** A UID above every UID (RFC 3501 §2.3.1.1: 32 bits): `n:4294967295` is never read as `*:n` (RFC 3501 §6.4.8). */
const HIGHEST_UID = 4_294_967_295;

/**
 * Added around each time window. With WITHIN (RFC 5032) OLDER/YOUNGER count seconds, so a few minutes cover
 * rounding and clock drift; without it SINCE/BEFORE compare days in a time zone of the server's choosing.
 */
const WINDOW_SLACK_WITHIN_MS = 5 * 60_000;
const WINDOW_SLACK_DAYS_MS = 24 * 60 * 60_000;

/** A ruleset's rules by the mailbox they look at, in order: one checkpoint each (see RulesetScans). */
export function rulesByMailbox(ruleset: Ruleset): Map<string, Rule[]> {
  const groups = new Map<string, Rule[]>();
  for (const rule of ruleset.rules) {
    const mailbox = rule.mailbox ?? ruleset.mailbox;
    groups.set(mailbox, [...(groups.get(mailbox) ?? []), rule]);
  }
  return groups;
}

/** The digest of a group's rules: a checkpoint made by other rules (or another format) is not used. */
export function rulesDigest(rules: readonly Rule[], mailbox: string): string {
  return createHash('sha256')
    .update(JSON.stringify({ format: 1, mailbox, rules }))
    .digest('base64url');
}

/**
 * Decides between a full and an incremental scan for a group whose mailbox was just selected, in the order a user
 * would look for the cause: what they asked for, what the server offers, what the state holds, the clock.
 */
export function planGroup(input: {
  readonly checkpoint: Checkpoint | typeof UNREADABLE | undefined;
  readonly digest: string;
  readonly mailbox: MailboxInfo;
  readonly now: Date;
  readonly fullScan: boolean;
  readonly fullScanEveryMs: number;
}): GroupPlan {
  const { checkpoint, mailbox, now } = input;
  if (mailbox.highestModseq === undefined) return { fullReason: 'no CONDSTORE' };
  const since = checkpoint === UNREADABLE ? undefined : checkpoint;
  const fullReason = fullReasonOf(input, since);
  const next: Checkpoint = {
    digest: input.digest,
    uidValidity: mailbox.uidValidity,
    uidNext: mailbox.uidNext,
    highestModseq: mailbox.highestModseq,
    at: now,
    fullAt: fullReason || !since ? now : since.fullAt,
  };
  return fullReason ? { fullReason, next } : { since, next };
}

function fullReasonOf(
  input: Parameters<typeof planGroup>[0],
  since: Checkpoint | undefined,
): string | undefined {
  if (input.fullScan) return '--full';
  if (input.checkpoint === UNREADABLE) return 'checkpoint unreadable';
  if (!since) return 'first run';
  if (since.digest !== input.digest) return 'rule changed';
  if (since.uidValidity !== input.mailbox.uidValidity) return 'uidvalidity changed';
  // Restored from a backup: "what changed since" would miss the mail put back (its UIDs and MODSEQs are old).
  const back = wentBack(
    { ...since, highestModseq: since.reachedModseq ?? since.highestModseq },
    input.mailbox,
  );
  if (back) return `mailbox went back: ${back}`;
  if (input.now.getTime() < since.at.getTime()) return 'clock went back';
  if (input.now.getTime() - since.fullAt.getTime() >= input.fullScanEveryMs) return 'periodic';
  return undefined;
}

/** What a group's incremental rules look at: the UIDs the candidate SEARCH found (changesSince). */
export interface Candidates {
  /** Found as the group's first rule started; undefined where the UID set would make too long a line. */
  readonly uids?: readonly number[];
  /** Another group's rule ran since (it may have moved mail in): also look at UIDs from the group's UIDNEXT on. */
  readonly interleaved: boolean;
}

/**
 * The scan of one rule of the group. A rule whose actions leave a matched message in the mailbox unchanged
 * (copyTo, a webhook without dedupe) acts on it again at every full scan, which no checkpoint can tell, so it
 * always scans in full. The others look at the candidates; none (an unchanged mailbox): no SEARCH at all.
 */
export function ruleScan(
  rule: Rule,
  mailbox: string,
  plan: GroupPlan,
  context: { readonly now: Date; readonly hasWithin: boolean; readonly durations: readonly number[] },
  candidates: Candidates,
): RuleScan {
  if (plan.fullReason || !plan.since || !plan.next)
    return { scan: 'full', scanReason: plan.fullReason ?? '' };
  if (!actsOnce(rule, mailbox)) return { scan: 'full', scanReason: 'acts again' };
  if (!candidates.uids) return { scan: 'incremental', changes: changesSince(plan.since, context) };
  const tail = candidates.interleaved ? [`${plan.next.uidNext}:${HIGHEST_UID}`] : [];
  const set = [...toRanges(candidates.uids), ...tail].join(',');
  return set === '' ? { scan: 'incremental' } : { scan: 'incremental', changes: { uid: set } };
}

/**
 * Whether a group's plan needs the candidate SEARCH: incremental, and something can have changed. Only a SELECT
 * sent just now can say nothing did: a mailbox selected earlier in the run (by another ruleset) may have been
 * changed since by that ruleset's own actions, which its remembered UIDNEXT and HIGHESTMODSEQ need not show.
 */
export function needsCandidates(
  plan: GroupPlan,
  durations: readonly number[],
  justSelected: boolean,
): boolean {
  const { since, next } = plan;
  if (plan.fullReason || !since || !next) return false;
  const unchanged = next.uidNext === since.uidNext && next.highestModseq === since.highestModseq;
  return !unchanged || !justSelected || durations.length > 0;
}

/** The candidates as a UID set, or undefined where they would make a command line too long for the server. */
export function candidateSet(uids: readonly number[], maxLength: number): readonly number[] | undefined {
  return toRanges(uids).join(',').length <= maxLength ? uids : undefined;
}

/**
 * What can match now and did not when the checkpoint was made: a message that arrived since (UID from the
 * checkpoint's UIDNEXT on; moved in from elsewhere too), one whose flags changed (a MODSEQ above its
 * HIGHESTMODSEQ, RFC 7162 §3.1.5: our own STOREs count, harmlessly), and, per duration a rule compares with,
 * one whose INTERNALDATE the threshold passed over since (both ways: olderThan starts to hold, newerThan stops).
 */
export function changesSince(
  since: Checkpoint,
  context: { readonly now: Date; readonly hasWithin: boolean; readonly durations: readonly number[] },
): SearchObject {
  const slack = context.hasWithin ? WINDOW_SLACK_WITHIN_MS : WINDOW_SLACK_DAYS_MS;
  const windows = context.durations.map(
    (duration): SearchObject => ({
      since: new Date(since.at.getTime() - duration - slack),
      before: new Date(context.now.getTime() - duration + slack),
    }),
  );
  return {
    or: [{ uid: `${since.uidNext}:${HIGHEST_UID}` }, { modseq: since.highestModseq + 1n }, ...windows],
  };
}

/** `search` AND `changes` (an object of one key), in the keys imapflow's SearchObject has (no AND of objects). */
export function withinChanges(search: SearchObject, changes: SearchObject): SearchObject {
  const [key] = Object.keys(changes) as (keyof SearchObject)[];
  if (key !== undefined && search[key] === undefined) return { ...search, ...changes };
  if (search.not === undefined) return { ...search, not: { not: changes } };
  return { not: { or: [{ not: search }, { not: changes }] } };
}

/**
 * Whether a message the rule acted on is, at the next full scan, gone (moved or deleted), excluded (a webhook's
 * delivery records), or acted on for nothing (flag changes it already carries): then only changed messages can
 * need it again.
 */
export function actsOnce(rule: Rule, mailbox: string): boolean {
  const steps = rule.actions.map(stepOf);
  const last = steps.at(-1);
  const removes =
    Boolean(last?.definition.removesMessages) &&
    !(last?.definition.key === 'moveTo' && last.params === mailbox);
  return (
    removes ||
    deliveryMarks(rule).length > 0 ||
    steps.every((step) => step.definition.flagChange(step.params) !== undefined)
  );
}

/** Every duration (olderThan, newerThan) anywhere in the rules' matches, in milliseconds, without repeats. */
export function durationsOf(rules: readonly Rule[]): number[] {
  const found = new Set<number>();
  const walk = (match: Match) => {
    for (const value of [match.olderThan, match.newerThan]) if (value) found.add(parseDuration(value));
    for (const inner of match.any ?? []) walk(inner);
    if (match.not) walk(match.not);
  };
  for (const rule of rules) walk(rule.match);
  return [...found].sort((a, b) => a - b);
}
