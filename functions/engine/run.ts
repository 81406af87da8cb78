import { ImapAuthError, ImapConnectError, ImapTlsError, MailsiftError } from '../errors.ts';
import { DEFAULT_TIMEOUTS, type ImapAccount, ImapSession, type SessionTimeouts } from '../imap/session.ts';
import type { Match, Rule, Ruleset } from '../rules/schema.ts';
import { mapSecretResolver, type SecretResolver } from '../secrets/resolve.ts';
import {
  AccountBusyError,
  type AccountLease,
  acquireAccountLease,
  DEFAULT_LEASE_MS,
} from './account-lease.ts';
import { applyAction } from './actions/index.ts';
import { deliveryKeyword } from './actions/webhook.ts';
import { compileSearch } from './compile-search.ts';
import type { CopyJournal } from './copy-journal.ts';
import { UNREADABLE_REASON } from './unreadable.ts';

/** How many matched messages a dry run shows per rule. */
const DRY_RUN_SAMPLE_SIZE = 5;

/** A run stops (as `incomplete`) this long before its account lease runs out, to finish a rule and log out. */
const LEASE_MARGIN_MS = 15_000;

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

export interface RuleSummary {
  readonly name: string;
  readonly mailbox: string;
  /** Messages the match selected (before `limit`). */
  readonly matched: number;
  /** Messages the actions were applied to (or would be, in a dry run). */
  readonly acted: number;
  readonly actions: ActionSummary[];
  /** IMAP commands this rule sent. */
  readonly imapCommands: number;
  readonly sample?: MessageSample[];
  /** Messages an action failed for (a webhook that was not delivered); tried again on the next run. */
  readonly failed?: { readonly uid: number; readonly reason: string }[];
  /** Messages SEARCH found whose client-side checks could not be made (left alone, not a rule failure). */
  readonly skipped?: { readonly uid: number; readonly reason: string }[];
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
  /** Set when the run could not start (connection, TLS, login) or was cut short. */
  readonly error?: string;
  readonly errorType?: string;
}

export interface RunOptions {
  readonly dryRun: boolean;
  readonly now?: Date;
  readonly timeouts?: SessionTimeouts;
  /** Resolves `{ parameter }` / `{ env }` references; default: environment only. */
  readonly secrets?: SecretResolver;
  /**
   * An open session to run on (left open), whose caller holds the account lease; by default the run connects,
   * takes the lease (a real run) and logs out itself.
   */
  readonly session?: ImapSession;
  /** Longest time a real run may hold its account (default 15 minutes); it stops cleanly before then. */
  readonly leaseMs?: number;
  /**
   * False: no account lease, for an account that nothing else runs at the same time and whose lease mailbox
   * cannot be written (no CREATE or APPEND allowed). Default true.
   */
  readonly lease?: boolean;
  /** The copy journal of the lease held with `session` (runRulesets passes it with the session). */
  readonly copyJournal?: CopyJournal;
  /** Asked before each rule and each webhook delivery; true ends the run cleanly as `incomplete`. */
  readonly shouldStop?: () => boolean;
  /** Told where a rule is: after its SEARCH, and as each action progresses (for a progress line). */
  readonly onProgress?: (progress: RuleProgress) => void;
  /**
   * Dry run of several rulesets of one account: per mailbox, the messages earlier rulesets would have moved or
   * deleted, so that later rulesets leave them out as a real run would.
   */
  readonly dryRunRemoved?: Map<string, Set<number>>;
}

/** Where a running rule is: how many messages matched, and how far the current action has got. */
export interface RuleProgress {
  readonly ruleset: string;
  readonly rule: string;
  readonly matched: number;
  readonly acted: number;
  /** 1-based index of the running action (0 while matching), of `actions`. */
  readonly action: number;
  readonly actions: number;
  readonly actionType?: string;
  /** Messages the running action has finished. */
  readonly done: number;
}

/** Per mailbox: messages later rules must not see again. */
interface MailboxMemory {
  /** Matched by a rule with `stop: true`. */
  readonly stopped: Set<number>;
  /** Moved or deleted by an earlier rule; only a dry run needs this, a real run's SEARCH no longer sees them. */
  readonly removed: Set<number>;
}

/** Whether a run failed: the connection or any rule. */
export function hasFailed(summary: RulesetSummary): boolean {
  return summary.error !== undefined || summary.rules.some((rule) => rule.error !== undefined);
}

/** Connects and, for a real run, takes the account lease; the session is closed again if that fails. */
async function openAccount(
  account: ImapAccount,
  names: { account: string; rulesets: readonly string[] },
  options: RunOptions,
): Promise<{ session: ImapSession; lease?: AccountLease }> {
  const session = await ImapSession.connect(account, options.timeouts ?? DEFAULT_TIMEOUTS);
  // A dry run EXAMINEs only: it cannot get in a real run's way.
  if (options.dryRun || options.lease === false) return { session };
  try {
    const lease = await acquireAccountLease(session, {
      ...names,
      durationMs: options.leaseMs ?? DEFAULT_LEASE_MS,
    });
    return { session, lease };
  } catch (error) {
    await session.close();
    throw error;
  }
}

/** `shouldStop`, also true once the lease is about to run out. */
function stopBeforeLeaseEnds(shouldStop: RunOptions['shouldStop'], lease: AccountLease | undefined) {
  if (!lease) return shouldStop;
  const end = lease.expiresAt.getTime() - LEASE_MARGIN_MS;
  return () => Boolean(shouldStop?.()) || Date.now() >= end;
}

/** The summary of a ruleset that could not start: no connection, no login, or the account was busy. */
function notStarted(
  base: Pick<RulesetSummary, 'ruleset' | 'account' | 'dryRun' | 'startedAt'>,
  started: number,
  error: unknown,
): RulesetSummary {
  const summary = { ...base, durationMs: Date.now() - started, rules: [], imapCommands: 0 };
  if (error instanceof AccountBusyError) {
    return { ...summary, incomplete: true, busy: { holder: error.holder, until: error.until } };
  }
  return { ...summary, ...describeError(error) };
}

function describeError(error: unknown): { error: string; errorType: string } {
  if (error instanceof MailsiftError) return { error: error.message, errorType: error.name };
  return { error: error instanceof Error ? error.message : String(error), errorType: 'InternalError' };
}

async function runRule(
  session: ImapSession,
  rule: Rule,
  mailboxPath: string,
  memory: Map<string, MailboxMemory>,
  options: RunOptions & { now: Date; secrets: SecretResolver; ruleset: { name: string; account: string } },
): Promise<Omit<RuleSummary, 'imapCommands'>> {
  const mailbox = await session.openMailbox(mailboxPath, options.dryRun);
  // Before expunging anything, finish what an earlier run of ours marked for expunging and then lost the
  // connection over; nothing else would ever match those messages again (SEARCH skips \Deleted).
  const resumed =
    !options.dryRun && mayExpunge(rule, session) ? await session.finishInterruptedExpunges() : 0;
  const key = `${mailbox.path}\u0000${mailbox.uidValidity}`;
  // `stop` holds within one ruleset; what a dry run would have moved away holds for the account's later rulesets.
  const removed = options.dryRunRemoved?.get(key) ?? new Set<number>();
  options.dryRunRemoved?.set(key, removed);
  const remembered = memory.get(key) ?? { stopped: new Set<number>(), removed };
  memory.set(key, remembered);

  const compiled = compileSearch(withDeliveryExclusions(rule), {
    now: options.now,
    hasWithin: session.hasCapability('WITHIN'),
  });
  // Saved as `$` where the server can: actions on exactly these messages then send `$`, not UID sets.
  const candidates = (await session.searchUids(compiled.search, { save: true })).filter(
    (uid) => !remembered.stopped.has(uid) && !remembered.removed.has(uid),
  );
  let matched = candidates;
  const skipped: { uid: number; reason: string }[] = [];
  if (compiled.check && compiled.fetch && candidates.length > 0) {
    const subResults: Set<number>[] = [];
    for (const query of compiled.subSearches) subResults.push(new Set(await session.searchUids(query)));
    const check = compiled.check;
    const { messages, unreadable } = await session.fetch(candidates, compiled.fetch);
    for (const uid of unreadable) skipped.push({ uid, reason: UNREADABLE_REASON });
    matched = messages
      .filter((message) => check(message, subResults))
      .map((message) => message.uid)
      .sort((a, b) => a - b);
  }
  // Oldest first: the rest wait for the next run, which picks up where this one stopped.
  const acted = matched.slice(0, rule.limit);
  const sample = options.dryRun ? await sampleMessages(session, acted) : undefined;

  const report = (action: number, done: number) =>
    options.onProgress?.({
      ruleset: options.ruleset.name,
      rule: rule.name,
      matched: matched.length,
      acted: acted.length,
      action,
      actions: rule.actions.length,
      actionType: action > 0 ? Object.keys(rule.actions[action - 1] ?? {})[0] : undefined,
      done,
    });
  report(0, 0);

  const actions: ActionSummary[] = resumed > 0 ? [{ type: 'finishInterruptedExpunge', count: resumed }] : [];
  const failed: { uid: number; reason: string }[] = [];
  let failure: ReturnType<typeof describeError> | undefined;
  let uids: readonly number[] = acted;
  for (const [index, action] of rule.actions.entries()) {
    report(index + 1, 0);
    try {
      const outcome = await applyAction(action, {
        session,
        mailbox,
        uids,
        dryRun: options.dryRun,
        ruleset: options.ruleset,
        ruleName: rule.name,
        secrets: options.secrets,
        shouldStop: options.shouldStop,
        copyJournal: options.copyJournal,
        progress: (done) => report(index + 1, done),
      });
      report(index + 1, uids.length);
      actions.push({ type: outcome.type, target: outcome.target, count: outcome.count });
      if (outcome.removesMessages && options.dryRun) for (const uid of uids) remembered.removed.add(uid);
      failed.push(...(outcome.failures ?? []));
      // Later actions apply only to the messages this one passed on (a webhook: the delivered ones).
      uids = outcome.continueWith ?? uids;
    } catch (error) {
      if (error instanceof ImapConnectError) throw error;
      failure = describeError(error);
      break; // later actions assume the earlier ones happened
    }
  }
  options.copyJournal?.endRule({
    ruleset: options.ruleset.name,
    rule: rule.name,
    source: mailbox,
    matched,
    acted,
    error: failure !== undefined,
    failedUids: new Set(failed.map((entry) => entry.uid)),
  });
  if (rule.stop) for (const uid of matched) remembered.stopped.add(uid);
  if (!failure && failed.length > 0) {
    failure = {
      error: `${failed.length} of ${acted.length} messages failed: ${failed[0]?.reason}`,
      errorType: 'DeliveryError',
    };
  }
  return {
    name: rule.name,
    mailbox: mailbox.path,
    matched: matched.length,
    acted: acted.length,
    actions,
    sample,
    ...(failed.length > 0 ? { failed } : {}),
    ...(skipped.length > 0 ? { skipped } : {}),
    ...failure,
  };
}

/** Whether the rule's actions expunge: `delete: expunge`, or a move on a server without MOVE. */
function mayExpunge(rule: Rule, session: ImapSession): boolean {
  return rule.actions.some(
    (action) =>
      action.delete === 'expunge' ||
      ((action.moveTo !== undefined || action.delete === 'trash') && !session.hasCapability('MOVE')),
  );
}

/** The match for "carries `flag`" (true) or "lacks it" (false): system flags by their keys, others as keywords. */
function flagMatch(flag: string, present: boolean): Match {
  const system = SYSTEM_FLAG_KEYS[flag.toLowerCase()];
  if (system) return { [system]: present };
  return present ? { keyword: flag } : { notKeyword: flag };
}

const SYSTEM_FLAG_KEYS: Record<string, 'seen' | 'flagged' | 'answered' | 'draft'> = {
  '\\seen': 'seen',
  '\\flagged': 'flagged',
  '\\answered': 'answered',
  '\\draft': 'draft',
};

/** `match` AND `extra`, where `extra` has a single key: added beside the others where that key is free. */
function andMatch(match: Match, extra: Match): Match {
  const [key] = Object.keys(extra) as (keyof Match)[];
  if (key !== undefined && match[key] === undefined) return { ...match, ...extra };
  if (match.not === undefined) return { ...match, not: { not: extra } };
  // NOT (NOT match OR NOT extra) = match AND extra
  return { not: { any: [{ not: match }, { not: extra }] } };
}

/**
 * A rule with a webhook never matches a message it has finished with, so a rerun, a retry or an overlapping
 * run cannot post it twice: "finished" is the delivery keyword plus what the actions after the webhook
 * leave behind (flags added, flags removed). A message that was delivered but whose later actions were
 * interrupted still matches; the webhook passes it on without posting it again. After a later `moveTo` or
 * `delete`, a delivered message still in the mailbox is such an interrupted one, so nothing is excluded.
 */
function withDeliveryExclusions(rule: Rule): Match {
  let match = rule.match;
  for (const [index, action] of rule.actions.entries()) {
    if (!action.webhook?.dedupe) continue;
    const later = rule.actions.slice(index + 1);
    if (later.some((step) => step.moveTo !== undefined || step.delete !== undefined)) continue;
    // NOT finished = NOT keyword OR a flag not added yet OR a flag not removed yet
    const unfinished: Match[] = [
      { notKeyword: deliveryKeyword(rule.name, action.webhook) },
      ...later.flatMap((step) => (step.addFlags ?? []).map((flag) => flagMatch(flag, false))),
      ...later.flatMap((step) => (step.removeFlags ?? []).map((flag) => flagMatch(flag, true))),
    ];
    match = andMatch(match, unfinished.length === 1 ? (unfinished[0] as Match) : { any: unfinished });
  }
  return match;
}

async function sampleMessages(session: ImapSession, uids: readonly number[]): Promise<MessageSample[]> {
  if (uids.length === 0) return [];
  const { messages } = await session.fetch(uids.slice(0, DRY_RUN_SAMPLE_SIZE), {
    envelope: true,
    internalDate: true,
  });
  return messages.map((message) => ({
    uid: message.uid,
    date: message.internalDate ? new Date(message.internalDate).toISOString() : undefined,
    from: message.envelope?.from?.map((a) => a.address ?? a.name ?? '').join(', '),
    subject: message.envelope?.subject,
  }));
}

/**
 * Runs one ruleset against one account: connect, then each rule in order, each rule's SEARCH seeing the
 * mailbox as the previous rules left it. Never throws for IMAP trouble: failures are in the summary.
 */
export async function runRuleset(
  ruleset: Ruleset,
  account: ImapAccount,
  options: RunOptions,
): Promise<RulesetSummary> {
  const started = Date.now();
  const now = options.now ?? new Date(started);
  const base = {
    ruleset: ruleset.name,
    account: ruleset.account,
    dryRun: options.dryRun,
    startedAt: now.toISOString(),
  };
  let session: ImapSession;
  let lease: AccountLease | undefined;
  try {
    ({ session, lease } = options.session
      ? { session: options.session }
      : await openAccount(account, { account: ruleset.account, rulesets: [ruleset.name] }, options));
  } catch (error) {
    return notStarted(base, started, error);
  }
  const shouldStop = stopBeforeLeaseEnds(options.shouldStop, lease);
  const copyJournal = options.copyJournal ?? lease?.copyJournal;
  const commandsBefore = options.session ? session.commands.length : 0;
  const rules: RuleSummary[] = [];
  const memory = new Map<string, MailboxMemory>();
  let fatal: ReturnType<typeof describeError> | undefined;
  let incomplete = false;
  try {
    for (const rule of ruleset.rules) {
      // Out of time: stop between rules; the next scheduled run picks up (every action is idempotent).
      if (shouldStop?.()) {
        incomplete = true;
        break;
      }
      const mailbox = rule.mailbox ?? ruleset.mailbox;
      const before = session.commands.length;
      if (fatal) {
        rules.push({
          name: rule.name,
          mailbox,
          matched: 0,
          acted: 0,
          actions: [],
          imapCommands: 0,
          error: `not run: ${fatal.error}`,
          errorType: fatal.errorType,
        });
        continue;
      }
      try {
        const summary = await runRule(session, rule, mailbox, memory, {
          ...options,
          shouldStop,
          copyJournal,
          now,
          secrets: options.secrets ?? mapSecretResolver(process.env),
          ruleset: { name: ruleset.name, account: ruleset.account },
        });
        rules.push({ ...summary, imapCommands: session.commands.length - before });
      } catch (error) {
        const described = describeError(error);
        copyJournal?.endRule(undefined);
        // A lost connection ends the run; every other failure ends only this rule.
        if (error instanceof ImapConnectError) fatal = described;
        rules.push({
          name: rule.name,
          mailbox,
          matched: 0,
          acted: 0,
          actions: [],
          imapCommands: session.commands.length - before,
          ...described,
        });
      }
    }
  } finally {
    if (!options.session) {
      await lease?.release();
      await session.close();
    }
  }
  return {
    ...base,
    durationMs: Date.now() - started,
    rules,
    imapCommands: session.commands.length - commandsBefore,
    ...(incomplete ? { incomplete: true } : {}),
    ...fatal,
  };
}

/**
 * Runs rulesets in order, one connection per account for all of its rulesets (a TLS handshake and login
 * saved per ruleset); a connection that failed is replaced for the next ruleset. `report` gets each summary
 * as soon as it is ready.
 */
export async function runRulesets(
  jobs: readonly { ruleset: Ruleset; account: ImapAccount }[],
  options: Omit<RunOptions, 'session' | 'dryRunRemoved'>,
  report: (summary: RulesetSummary) => void,
): Promise<RulesetSummary[]> {
  const summaries: RulesetSummary[] = [];
  const accounts = [...new Set(jobs.map((job) => job.ruleset.account))];
  for (const name of accounts) {
    let opened: { session: ImapSession; lease?: AccountLease } | undefined;
    // Why the account could not be taken (busy, or the lease mailbox refused): the same for all its rulesets.
    let refused: unknown;
    const dryRunRemoved = new Map<string, Set<number>>();
    const own = jobs.filter((candidate) => candidate.ruleset.account === name);
    try {
      for (const job of own) {
        if (!opened && refused === undefined) {
          try {
            opened = await openAccount(
              job.account,
              { account: name, rulesets: own.map((each) => each.ruleset.name) },
              options,
            );
          } catch (error) {
            // A connection failure is left to runRuleset, which tries once more and reports it.
            if (
              !(
                error instanceof ImapConnectError ||
                error instanceof ImapTlsError ||
                error instanceof ImapAuthError
              )
            )
              refused = error;
          }
        }
        const summary =
          refused !== undefined
            ? notStarted(
                {
                  ruleset: job.ruleset.name,
                  account: name,
                  dryRun: options.dryRun,
                  startedAt: (options.now ?? new Date()).toISOString(),
                },
                Date.now(),
                refused,
              )
            : await runRuleset(job.ruleset, job.account, {
                ...options,
                session: opened?.session,
                copyJournal: opened?.lease?.copyJournal,
                shouldStop: stopBeforeLeaseEnds(options.shouldStop, opened?.lease),
                dryRunRemoved,
              });
        summaries.push(summary);
        report(summary);
        const lost = [summary.errorType, ...summary.rules.map((rule) => rule.errorType)].includes(
          'ImapConnectError',
        );
        if (lost && opened) {
          await opened.lease?.release();
          await opened.session.close();
          opened = undefined;
        }
      }
    } finally {
      await opened?.lease?.release();
      await opened?.session.close();
    }
  }
  return summaries;
}
