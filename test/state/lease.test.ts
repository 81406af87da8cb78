/** The lease record's decisions, against the memory store with a machine and a clock the test controls. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AccountBusyError,
  acquireStateLease,
  holdsAccount,
  type LeaseHolder,
} from '../../functions/state/lease.ts';
import { type Machine, thisProcess } from '../../functions/state/machine.ts';
import { MemoryStateStore } from '../../functions/state/memory-store.ts';

const MINUTE = 60_000;
const me = thisProcess();

/** This machine as the tests tell it: `running` pids run, nothing else does. */
function machineWith(running: readonly number[], held: readonly string[] = []): Machine {
  return {
    host: me.host,
    boot: me.boot,
    namespace: me.namespace ?? '',
    isRunning: (pid) => running.includes(pid),
    holdsHere: (token) => held.includes(token),
  };
}

function holder(fields: Partial<LeaseHolder>): LeaseHolder {
  return {
    ...me,
    pid: 4242,
    started: 0,
    token: 't',
    expiresAt: Date.now() + MINUTE,
    rulesets: ['r'],
    ...fields,
  };
}

describe('holdsAccount', () => {
  const now = Date.now();
  it('an expired lease holds nothing, wherever its process is', () => {
    assert.equal(
      holdsAccount(holder({ expiresAt: now - 1, host: 'elsewhere' }), now, machineWith([4242])),
      false,
    );
  });
  it('a lease of another machine holds until it expires: nothing here can tell its process died', () => {
    assert.equal(holdsAccount(holder({ host: 'elsewhere', pid: 1 }), now, machineWith([])), true);
  });
  it('a lease of this machine holds while its process runs, and not after (SIGKILL included)', () => {
    assert.equal(holdsAccount(holder({}), now, machineWith([4242])), true);
    assert.equal(holdsAccount(holder({}), now, machineWith([])), false);
  });
  it('a lease written before a reboot holds until it expires (pids are per boot)', () => {
    assert.equal(holdsAccount(holder({ boot: 'earlier-boot' }), now, machineWith([])), true);
  });
  it('a lease of another pid namespace (another container on this host) holds until it expires', () => {
    assert.equal(holdsAccount(holder({ namespace: 'pid:[1]' }), now, machineWith([])), true);
  });
  it('a lease of this very process holds only while this process still holds that token', () => {
    const own = holder({ pid: process.pid, token: 'mine' });
    assert.equal(holdsAccount(own, now, machineWith([process.pid], ['mine'])), true);
    assert.equal(holdsAccount(own, now, machineWith([process.pid], [])), false);
  });
});

describe('acquireStateLease', () => {
  const options = (now = Date.now) => ({
    account: 'billing',
    rulesets: ['invoices'],
    durationMs: MINUTE,
    now,
  });

  it('takes a free account, keeps out a second run, and frees it on release', async () => {
    const store = new MemoryStateStore();
    const lease = await acquireStateLease(store, 'scope', options());
    await assert.rejects(acquireStateLease(store, 'scope', options()), (error: unknown) => {
      assert.ok(error instanceof AccountBusyError);
      assert.match(error.holder, new RegExp(`^ruleset invoices on .+, pid ${process.pid}$`));
      assert.equal(error.until, lease.expiresAt.toISOString());
      return true;
    });
    await lease.release();
    assert.equal(await store.get('scope/lease'), undefined);
    const next = await acquireStateLease(store, 'scope', options());
    await next.release();
  });

  it('takes over the lease of a dead process, and of an expired one', async () => {
    const store = new MemoryStateStore();
    await store.put('scope/lease', holder({ pid: 999_999_999, token: 'dead' }));
    const lease = await acquireStateLease(store, 'scope', options());
    assert.equal((await store.get<LeaseHolder>('scope/lease'))?.value.token, lease.token);
    await lease.release();
    let clock = Date.now();
    const timed = new MemoryStateStore({ now: () => clock });
    await acquireStateLease(
      timed,
      'scope',
      options(() => clock),
    );
    clock += MINUTE + 1;
    const after = await acquireStateLease(
      timed,
      'scope',
      options(() => clock),
    );
    await after.release();
  });

  it('a release after the lease was taken over deletes nothing of the new holder', async () => {
    let clock = Date.now();
    const store = new MemoryStateStore({ now: () => clock });
    const first = await acquireStateLease(
      store,
      'scope',
      options(() => clock),
    );
    clock += MINUTE + 1;
    const second = await acquireStateLease(
      store,
      'scope',
      options(() => clock),
    );
    await first.release();
    assert.equal((await store.get<LeaseHolder>('scope/lease'))?.value.token, second.token);
    await second.release();
  });

  it('a lease released twice frees the account once: the second release leaves a later holder alone', async () => {
    const store = new MemoryStateStore();
    const first = await acquireStateLease(store, 'scope', options());
    await first.release();
    const second = await acquireStateLease(store, 'scope', options());
    await first.release();
    assert.equal((await store.get<LeaseHolder>('scope/lease'))?.value.token, second.token);
    await assert.rejects(acquireStateLease(store, 'scope', options()), AccountBusyError);
    await second.release();
  });

  it('of runs racing for a free account, exactly one gets it', async () => {
    const store = new MemoryStateStore();
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, () => acquireStateLease(store, 'scope', options())),
    );
    const won = results.filter((result) => result.status === 'fulfilled');
    assert.equal(won.length, 1);
    for (const result of results) {
      if (result.status === 'rejected')
        assert.ok(result.reason instanceof AccountBusyError, String(result.reason));
    }
  });
});
