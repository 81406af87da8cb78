/**
 * An account run: the rulesets of one account on one connection, one login and one lease; a refused login is
 * final for all of them; a connection lost in one ruleset is opened again once for the next.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runRulesets } from '../../functions/engine/run.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { type FaultProxy, startFaultProxyFor } from '../helpers/fault-proxy.ts';
import { FaultyStateStore } from '../helpers/faulty-store.ts';
import { makeMail } from '../helpers/mail.ts';
import { rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';

const FAST = { connectMs: 2000, greetingMs: 2000, socketMs: 2000 };

let dovecot: TestDovecot;
let proxy: FaultProxy;

before(async () => {
  dovecot = await startDovecot();
  proxy = await startFaultProxyFor(dovecot);
});
after(async () => {
  await proxy?.close();
  await dovecot?.stop();
});

/** Three rulesets of one account, each flagging one sender's mail. */
const RULESETS = ['a', 'b', 'c'].map((name) =>
  rulesetOf(
    `rules:\n  - { name: ${name}, match: { from: ${name}@ }, actions: [{ addFlags: [$Seen${name}] }] }\n`,
    name,
  ),
);

function seededUser(): string {
  const user = dovecot.addUser();
  dovecot.seed(
    user,
    'INBOX',
    ['a', 'b', 'c'].map((name) => ({ raw: makeMail({ messageId: name, from: `${name}@x.test` }) })),
  );
  return user;
}

/** The commands the proxy saw, by name. */
function names(): string[] {
  return proxy.commands().map((line) => (line.split(' ')[1] ?? '').toUpperCase());
}

describe('an account run', () => {
  it('runs all rulesets of an account on one login and one lease', async () => {
    const user = seededUser();
    const state = new FaultyStateStore(testState());
    proxy.arm({ kind: 'none' });
    const account = { ...dovecot.account(user), port: proxy.port };
    const summaries = await runRulesets(
      RULESETS.map((ruleset) => ({ ruleset, account })),
      { state, dryRun: false, timeouts: FAST },
      () => {},
    );
    assert.deepEqual(
      summaries.map((summary) => [summary.ruleset, summary.rules[0]?.acted, summary.error]),
      [
        ['a', 1, undefined],
        ['b', 1, undefined],
        ['c', 1, undefined],
      ],
    );
    assert.equal(names().filter((name) => name === 'LOGIN' || name === 'AUTHENTICATE').length, 1);
    assert.equal(names().filter((name) => name === 'LOGOUT').length, 1);
    const history = state.writes.filter((write) => /\/journal\/|^put mailsift-runs\//.test(write));
    const [checkpoints, others] = [true, false].map((wanted) =>
      state.writes.filter((write) => write.includes('/checkpoints/') === wanted && !history.includes(write)),
    );
    assert.equal(history.length, 6, 'each ruleset’s history entry and its index record');
    assert.deepEqual(
      others?.map((write) => write.replace(/^(\w+) \S+\/(\w+)$/, '$1 $2')),
      ['put lease', 'put lease'],
      'the lease taken once and given up once',
    );
    assert.equal(checkpoints?.length, 3, 'a checkpoint per ruleset');
  });

  it('a connection lost in one ruleset is opened again, once, for the next', async () => {
    const user = seededUser();
    proxy.arm({ kind: 'none' });
    const account = { ...dovecot.account(user), port: proxy.port };
    const jobs = RULESETS.map((ruleset) => ({ ruleset, account }));
    await runRulesets(jobs, { state: testState(), dryRun: false, timeouts: FAST }, () => {});
    const storeAt = proxy.commands().findIndex((line) => / UID STORE /.test(line)) + 1;
    assert.ok(storeAt > 0, proxy.commands().join(' | '));

    const fresh = seededUser();
    proxy.arm({ kind: 'cut', at: storeAt, when: 'before' });
    const summaries = await runRulesets(
      jobs.map((job) => ({ ...job, account: { ...dovecot.account(fresh), port: proxy.port } })),
      { state: testState(), dryRun: false, timeouts: FAST },
      () => {},
    );
    assert.equal(summaries[0]?.errorType, 'ImapConnectError');
    assert.deepEqual(
      summaries.slice(1).map((summary) => [summary.rules[0]?.acted, summary.error]),
      [
        [1, undefined],
        [1, undefined],
      ],
    );
    assert.equal(names().filter((name) => name === 'LOGIN' || name === 'AUTHENTICATE').length, 2);
  });
  // Last: Dovecot delays logins from an address that just failed one (its auth penalty).
  it('a refused login is final for every ruleset of the account: one login, never a second', async () => {
    const user = seededUser();
    proxy.arm({ kind: 'none' });
    const account = { ...dovecot.account(user), port: proxy.port, password: 'wrong' };
    // Dovecot answers a wrong password only after its auth_failure_delay (2 s): more than FAST allows.
    const summaries = await runRulesets(
      RULESETS.map((ruleset) => ({ ruleset, account })),
      { state: testState(), dryRun: false },
      () => {},
    );
    assert.deepEqual(
      summaries.map((summary) => summary.errorType),
      ['ImapAuthError', 'ImapAuthError', 'ImapAuthError'],
    );
    assert.equal(names().filter((name) => name === 'LOGIN' || name === 'AUTHENTICATE').length, 1);
  });
});
