import { DEFAULT_TIMEOUTS, type ImapAccount, ImapSession, type SessionTimeouts } from '../imap/session.ts';
import type { Ruleset } from '../rules/schema.ts';
import { mapSecretResolver, type SecretResolver } from '../secrets/resolve.ts';
import { type AccountLease, acquireStateLease, DEFAULT_LEASE_MS } from '../state/lease.ts';
import { accountScope, type StateStore } from '../state/store.ts';
import { accountState } from './account-state.ts';
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
  /** Asked before each rule and each webhook delivery; true ends the run cleanly as `incomplete`. */
  readonly shouldStop?: () => boolean;
  /** Told where a rule is: after its SEARCH, and as each action progresses (for a progress line). */
  readonly onProgress?: (progress: RuleProgress) => void;
}

export interface AccountJob {
  readonly ruleset: Ruleset;
  readonly account: ImapAccount;
}

interface OpenAccount {
  readonly session: ImapSession;
  readonly lease?: AccountLease;
}

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
  let opened: OpenAccount | unknown = await openAccount(jobs, options, names);
  let reopened = false;
  for (const [index, job] of jobs.entries()) {
    const started = Date.now();
    const base = summaryBase(job.ruleset, options);
    if (!(opened instanceof Opened)) {
      summaries.push(notStarted(base, started, opened));
      report(summaries.at(-1) as RulesetSummary);
      continue;
    }
    const { session, lease } = opened;
    const commandsBefore = index === 0 ? 0 : session.commands.length;
    const outcome = await runRulesetRules(
      job.ruleset,
      {
        session,
        state: accountState(options.state, accountScope(job.account), { leaseToken: lease?.token }),
        dryRun: options.dryRun,
        now: options.now ?? new Date(started),
        secrets: options.secrets ?? mapSecretResolver(process.env),
        shouldStop: stopBeforeLeaseEnds(options.shouldStop, lease),
        onProgress: options.onProgress,
      },
      removedByEarlier,
    );
    const last = index === jobs.length - 1;
    if (outcome.lost || last) await closeAccount(opened);
    if (outcome.lost && !last && !reopened) {
      reopened = true;
      opened = await openAccount(jobs.slice(index + 1), options, names);
    }
    summaries.push({
      ...base,
      durationMs: Date.now() - started,
      rules: outcome.rules,
      imapCommands: session.commands.length - commandsBefore,
      ...(outcome.incomplete ? { incomplete: true } : {}),
      ...outcome.lost,
    });
    report(summaries.at(-1) as RulesetSummary);
  }
  return summaries;
}

class Opened implements OpenAccount {
  constructor(
    readonly session: ImapSession,
    readonly lease?: AccountLease,
  ) {}
}

function summaryBase(ruleset: Ruleset, options: RunOptions): SummaryBase {
  return {
    ruleset: ruleset.name,
    account: ruleset.account,
    dryRun: options.dryRun,
    startedAt: (options.now ?? new Date()).toISOString(),
  };
}

/** Connects and, for a real run, takes the account lease; returns why not otherwise (the session closed again). */
async function openAccount(jobs: readonly AccountJob[], options: RunOptions, rulesets: readonly string[]) {
  const first = jobs[0];
  if (!first) return new Error('no rulesets');
  let session: ImapSession;
  try {
    session = await ImapSession.connect(first.account, options.timeouts ?? DEFAULT_TIMEOUTS);
  } catch (error) {
    return error;
  }
  // A dry run EXAMINEs only: it cannot get in a real run's way.
  const mode = options.dryRun ? 'none' : (options.lease ?? 'state');
  const leaseOptions = {
    account: first.ruleset.account,
    rulesets,
    durationMs: options.leaseMs ?? DEFAULT_LEASE_MS,
  };
  try {
    if (mode === 'none') return new Opened(session);
    if (mode === 'mailbox') return new Opened(session, await acquireMailboxLease(session, leaseOptions));
    return new Opened(
      session,
      await acquireStateLease(options.state, accountScope(first.account), leaseOptions),
    );
  } catch (error) {
    await session.close();
    return error;
  }
}

async function closeAccount(opened: OpenAccount): Promise<void> {
  await opened.lease?.release();
  await opened.session.close();
}

/** `shouldStop`, also true once the lease is about to run out. */
function stopBeforeLeaseEnds(shouldStop: RunOptions['shouldStop'], lease: AccountLease | undefined) {
  if (!lease) return shouldStop;
  const end = lease.expiresAt.getTime() - LEASE_MARGIN_MS;
  return () => Boolean(shouldStop?.()) || Date.now() >= end;
}
