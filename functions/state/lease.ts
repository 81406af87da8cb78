import { randomUUID } from 'node:crypto';
import { MailsiftError } from '../errors.ts';
import {
  LEASES_HELD_HERE,
  type Machine,
  mayStillHold,
  type ProcessIdentity,
  THIS_MACHINE,
  thisProcess,
} from './machine.ts';
import { intact } from './record-catalogue.ts';
import { StateConflictError, type StateStore, stateKey } from './store.ts';

/** How long a run may hold its account when the caller gives no deadline (the CLI). */
export const DEFAULT_LEASE_MS = 15 * 60_000;

/** Another run holds the account: this run must not touch its mail. */
export class AccountBusyError extends MailsiftError {
  readonly holder: string;
  readonly until: string;
  constructor(account: string, holder: string, until: string) {
    super(`another run of account ${JSON.stringify(account)} is going on (${holder}); it ends by ${until}`);
    this.holder = holder;
    this.until = until;
  }
}

/** The lease could not be taken for a reason other than another run: the run does not go on without it. */
export class LeaseError extends MailsiftError {}

/** The account, held by one run until `release`. */
export interface AccountLease {
  /** Names this holding: records the run writes carry it, so later runs tell their own from others'. */
  readonly token: string;
  readonly expiresAt: Date;
  /** Gives the account up. Never throws: a lease that cannot be released dies with its run or its expiry. */
  release(): Promise<void>;
}

/** The lease record: who holds the account, until when. */
export interface LeaseHolder extends ProcessIdentity {
  readonly token: string;
  readonly expiresAt: number;
  readonly rulesets: readonly string[];
}

/**
 * Whether a lease record still holds the account at `now`: not expired, and its process may still be running
 * (a holder on this machine whose process is gone, killed by SIGKILL too, holds nothing).
 */
export function holdsAccount(holder: LeaseHolder, now: number, machine: Machine): boolean {
  return holder.expiresAt > now && mayStillHold(holder, machine);
}

export function describeHolder(holder: Pick<LeaseHolder, 'rulesets' | 'host' | 'pid'>): string {
  const what = holder.rulesets.length > 0 ? `ruleset ${holder.rulesets.join(',')}` : 'a run';
  return `${what} on ${holder.host}, pid ${holder.pid}`;
}

/**
 * Takes the account for one run in the state store, so that two runs never work on the same mail at once (two
 * MOVEs of one message can both succeed; two webhooks can both post before either records its delivery). One
 * record per account, written by compare-and-set: of two runs that find the account free, one write wins.
 * @throws AccountBusyError when a live run holds it; StateStoreError when the store fails.
 */
export async function acquireStateLease(
  store: StateStore,
  scope: string,
  options: {
    readonly account: string;
    readonly rulesets: readonly string[];
    readonly durationMs: number;
    readonly now?: () => number;
    readonly machine?: Machine;
  },
): Promise<AccountLease> {
  const clock = options.now ?? Date.now;
  const machine = options.machine ?? THIS_MACHINE;
  const key = stateKey(scope, 'lease');
  for (let attempt = 0; ; attempt++) {
    const found = await store.get(key);
    const current = found && intact<LeaseHolder>(found);
    if (current && holdsAccount(current.value, clock(), machine)) {
      throw new AccountBusyError(
        options.account,
        describeHolder(current.value),
        new Date(current.value.expiresAt).toISOString(),
      );
    }
    const holder: LeaseHolder = {
      ...thisProcess(),
      token: randomUUID(),
      expiresAt: clock() + options.durationMs,
      rulesets: [...options.rulesets],
    };
    // Known here before the write: a run of this process that reads the record meanwhile must see it live.
    LEASES_HELD_HERE.add(holder.token);
    try {
      const version = await store.put(key, holder, {
        expectedVersion: current?.version ?? 0,
        expiresAt: holder.expiresAt,
      });
      return heldLease(store, key, holder, version, clock);
    } catch (error) {
      LEASES_HELD_HERE.delete(holder.token);
      // Another run wrote in between: read again, once, to say who holds the account now.
      if (!(error instanceof StateConflictError)) throw error;
      if (attempt > 0)
        throw new LeaseError(`the lease of account ${options.account} kept changing while taking it`);
    }
  }
}

/**
 * The lease as its holder sees it. Released once, by writing over our own record (and only ours) one that has
 * expired already: versions keep counting up, so a later holder's record is never taken for ours, as it could
 * be after a delete (the next record would start again at version 1).
 */
function heldLease(
  store: StateStore,
  key: string,
  holder: LeaseHolder,
  version: number,
  clock: () => number,
): AccountLease {
  let released = false;
  return {
    token: holder.token,
    expiresAt: new Date(holder.expiresAt),
    release: async () => {
      if (released) return;
      released = true;
      LEASES_HELD_HERE.delete(holder.token);
      const now = clock();
      await store
        .put(key, { ...holder, expiresAt: now }, { expectedVersion: version, expiresAt: now })
        .catch(() => {
          // Taken over after our expiry, or the store is gone: the record dies with its expiry either way.
        });
    },
  };
}
