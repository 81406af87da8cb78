import { ImapConnectError } from '../errors.ts';
import { DEFAULT_TIMEOUTS, type ImapAccount, ImapSession, type SessionTimeouts } from '../imap/session.ts';
import type { Ruleset } from '../rules/schema.ts';
import { mapSecretResolver, type SecretResolver } from '../secrets/resolve.ts';
import { type AccountLease, acquireStateLease, DEFAULT_LEASE_MS } from '../state/lease.ts';
import { accountScope, type StateStore } from '../state/store.ts';
import { type AccountState, accountState } from './account-state.ts';
import type { PlanLimits, PlanRecorder } from './history/plan.ts';
import { RunRecorder } from './history/run-recorder.ts';
import { acquireMailboxLease } from './mailbox-lease.ts';
import type { RuleProgress } from './progress.ts';
import { runRulesetRules } from './run-ruleset.ts';
import { notStarted, type RulesetSummary, type SummaryBase } from './summary.ts';

/** A run stops (as `incomplete`) this long before its account lease runs out, to finish a rule and log out. */
const LEASE_MARGIN_MS = 15_000;

/**
 * Where the account lease is held: `state` in the state store (the default: one machine, or DynamoDB on AWS),
 * `mailbox` as a ticket in the account's own `mailsift-lease` mailbox (runs of one account from several
 * machines with separate state), `none` (an account nothing else runs at the same time; no copy journal).
 */
export type LeaseMode = 'state' | 'mailbox' | 'none';

export interface RunOptions {
  readonly dryRun: boolean;
  /** What the account remembers between runs: leases, copy journal, deliveries, pending expunges. */
  readonly state: StateStore;
  readonly now?: Date;
  readonly timeouts?: SessionTimeouts;
  /** Resolves `{ parameter }` / `{ env }` references; default: environment only. */
  readonly secrets?: SecretResolver;
  /** Longest time a real run may hold its account (default 15 minutes); it stops cleanly before then. */
  readonly leaseMs?: number;
  /** Default `state`. */
  readonly lease?: LeaseMode;
  /** Scan every message, whatever the checkpoints say (`mailsift run --full`). */
  readonly fullScan?: boolean;
  /** Waits before trying a rule the server throttled again (default THROTTLE_DELAYS_MS: 2, 8, 30 s). */
  readonly throttleDelaysMs?: readonly number[];
  /** Asked before each rule and each webhook delivery; true ends the run cleanly as `incomplete`. */
  readonly shouldStop?: () => boolean;
  /** Told where a rule is: after its SEARCH, and as each action progresses (for a progress line). */
  readonly onProgress?: (progress: RuleProgress) => void;
  /** Write what real runs change to the history (default true; false only to measure what it costs). */
  readonly history?: boolean;
  /** A dry run collects its plan here (`run --dry-run --plan FILE`). */
  readonly planRecorder?: PlanRecorder;
  /** `mailsift apply`: rules act only on the plan's messages that still match them. */
  readonly plan?: PlanLimits;
}

export interface AccountJob {
  readonly ruleset: Ruleset;
  readonly account: ImapAccount;
}

/** The account's connection and lease, or why there is none (for every ruleset still to run). */
type Account =
  | {
      readonly open: true;
      readonly session: ImapSession;
      readonly lease?: AccountLease;
      /** Shared by the account's rulesets: the journal is read once, a delivery log loaded once. */
      readonly state: AccountState;
    }
  | { readonly open: false; readonly why: unknown };

/**
 * Runs the rulesets of one account, in order, on one connection and under one lease: connect and log in once
 * (a failure is final for every ruleset: no second LOGIN), take the lease (a real run), run each ruleset, give
 * the lease up and log out. A connection lost mid-run is opened again once for the later rulesets. `report` gets
 * each summary as soon as it is ready. Never throws for IMAP or state trouble: failures are in the summaries.
 */
export async function runAccount(
  jobs: readonly AccountJob[],
  options: RunOptions,
  report: (summary: RulesetSummary) => void = () => {},
): Promise<RulesetSummary[]> {
  const summaries: RulesetSummary[] = [];
  const removedByEarlier = new Map<string, Set<number>>();
  const names = jobs.map((job) => job.ruleset.name);
  let account = await openAccount(jobs, options, names);
  let reopened = false;
  let signedInAgain = false;
  let carried: RunRecorder | undefined;
  // A session's first ruleset counts its connection and login too.
  let countFrom = 0;
  for (let index = 0; index < jobs.length; index++) {
    const job = jobs[index] as AccountJob;
    const started = Date.now();
    const base = summaryBase(job.ruleset, options);
    if (!account.open) {
      summaries.push(notStarted(base, started, account.why));
      report(summaries.at(-1) as RulesetSummary);
      continue;
    }
    const { session } = account;
    // A ruleset run again after a token expired keeps the record of its first try.
    const journal =
      carried ??
      (options.dryRun || options.history === false
        ? undefined
        : new RunRecorder(job.ruleset, options.state, job.account, started));
    carried = undefined;
    const outcome = await runRulesetRules(
      job.ruleset,
      {
        ...ruleRun(options, account, started),
        journal,
        planner: options.planRecorder?.forRuleset(job.ruleset, accountScope(job.account)),
      },
      removedByEarlier,
    );
    const last = index === jobs.length - 1;
    if (outcome.lost || last) await closeAccount(account);
    if (outcome.lost && !signedInAgain && tokenExpired(job.account, session)) {
      // Exchange ends a session whose access token expired; a new one signs in with a new token and runs this
      // ruleset again from its start (every action is idempotent; what was done is not found again).
      signedInAgain = true;
      carried = journal;
      account = await openAccount(jobs.slice(index), options, names);
      countFrom = 0;
      index--;
      continue;
    }
    const facts = session.factsThatMatter;
    const history = await journal?.write();
    summaries.push({
      ...base,
      durationMs: Date.now() - started,
      rules: outcome.rules,
      imapCommands: session.commands.length - countFrom,
      ...(outcome.incomplete ? { incomplete: true } : {}),
      ...(Object.keys(facts).length > 0 ? { server: facts } : {}),
      ...history,
      ...outcome.lost,
    });
    report(summaries.at(-1) as RulesetSummary);
    countFrom = session.commands.length;
    if (outcome.lost && !last) {
      // Once: a connection lost twice is not tried a third time in this run.
      account = reopened
        ? { open: false, why: new ImapConnectError(outcome.lost.error) }
        : await openAccount(jobs.slice(index + 1), options, names);
      reopened = true;
      countFrom = 0;
    }
  }
  return summaries;
}

/** Whether the server hung up because the session's OAuth2 access token expired (Exchange's BYE says so). */
function tokenExpired(account: ImapAccount, session: ImapSession): boolean {
  return (
    account.tokens !== undefined && /AccessTokenExpired|token (has )?expired/i.test(session.byeReason ?? '')
  );
}

/** What the rules of one ruleset run with, on the open account. */
function ruleRun(options: RunOptions, account: Extract<Account, { open: true }>, started: number) {
  return {
    session: account.session,
    state: account.state,
    dryRun: options.dryRun,
    fullScan: options.fullScan ?? false,
    throttleDelaysMs: options.throttleDelaysMs,
    now: options.now ?? new Date(started),
    secrets: options.secrets ?? mapSecretResolver(process.env),
    shouldStop: stopBeforeLeaseEnds(options.shouldStop, account.lease),
    onProgress: options.onProgress,
    plan: options.plan,
  };
}

function summaryBase(ruleset: Ruleset, options: RunOptions): SummaryBase {
  return {
    ruleset: ruleset.name,
    account: ruleset.account,
    dryRun: options.dryRun,
    startedAt: (options.now ?? new Date()).toISOString(),
  };
}

/** Connects and, for a real run, takes the account lease; or why not (the session closed again). */
async function openAccount(
  jobs: readonly AccountJob[],
  options: RunOptions,
  rulesets: readonly string[],
): Promise<Account> {
  const first = jobs[0];
  if (!first) return { open: false, why: new Error('no rulesets') };
  let session: ImapSession;
  try {
    session = await ImapSession.connect(first.account, options.timeouts ?? DEFAULT_TIMEOUTS);
  } catch (error) {
    return { open: false, why: error };
  }
  // A dry run EXAMINEs only: it cannot get in a real run's way.
  const mode = options.dryRun ? 'none' : (options.lease ?? 'state');
  const leaseOptions = {
    account: first.ruleset.account,
    rulesets,
    durationMs: options.leaseMs ?? DEFAULT_LEASE_MS,
  };
  try {
    const scope = accountScope(first.account);
    if (mode === 'none') return { open: true, session, state: accountState(options.state, scope) };
    const lease =
      mode === 'mailbox'
        ? await acquireMailboxLease(session, leaseOptions)
        : await acquireStateLease(options.state, scope, leaseOptions);
    return {
      open: true,
      session,
      lease,
      state: accountState(options.state, scope, { leaseToken: lease.token }),
    };
  } catch (error) {
    await session.close();
    return { open: false, why: error };
  }
}

async function closeAccount(account: Extract<Account, { open: true }>): Promise<void> {
  await account.lease?.release();
  await account.session.close();
}

/** `shouldStop`, also true once the lease is about to run out. */
function stopBeforeLeaseEnds(shouldStop: RunOptions['shouldStop'], lease: AccountLease | undefined) {
  if (!lease) return shouldStop;
  const end = lease.expiresAt.getTime() - LEASE_MARGIN_MS;
  return () => Boolean(shouldStop?.()) || Date.now() >= end;
}
