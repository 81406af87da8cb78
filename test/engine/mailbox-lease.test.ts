/**
 * The account lease held in the mailbox (`--state-lease mailbox`): a ticket per run in a mailbox of its own, so
 * that two runs never work on the same mail, from any machine. Tickets are written here by hand, as another
 * machine or a dead process would have left them.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { LEASE_MAILBOX } from '../../functions/engine/mailbox-lease.ts';
import { hasFailed, runRuleset } from '../../functions/engine/run.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { startFaultProxyFor } from '../helpers/fault-proxy.ts';
import { makeMail } from '../helpers/mail.ts';
import { idsIn, rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';

/** Where these runs keep their state: one real file store for the whole file. */
const stateStore = testState();

const FLAG_ALERTS = rulesetOf(
  'rules:\n  - { name: flag, match: { from: alerts@ }, actions: [{ addFlags: [$Done] }] }\n',
);
const MINUTE = 60_000;
const BOOT_ID = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

/** A ticket as a run on `host` writes it. */
function ticket(fields: { token: string; expires: Date; host: string; boot?: string; pid: number }): string {
  const value = [
    `token=${fields.token}`,
    `expires=${encodeURIComponent(fields.expires.toISOString())}`,
    `host=${encodeURIComponent(fields.host)}`,
    `boot=${fields.boot ?? ''}`,
    `pid=${fields.pid}`,
    'rulesets=elsewhere',
  ].join('; ');
  return [
    'From: mailsift <mailsift@localhost>',
    'Subject: mailsift run in progress',
    `Message-ID: <${fields.token}@mailsift.lease>`,
    `X-Mailsift-Lease: ${value}`,
    '',
    'held',
    '',
  ].join('\r\n');
}

/** Two alerts the rule flags, one message another client marked \Deleted, and `tickets` in the lease mailbox. */
function userWith(dovecot: TestDovecot, tickets: string[]): string {
  const user = dovecot.addUser();
  dovecot.seed(user, 'INBOX', [
    { raw: makeMail({ messageId: 'a1', from: 'alerts@ops.test' }) },
    { raw: makeMail({ messageId: 'gone', from: 'friend@x.test' }), flags: 'T' },
    { raw: makeMail({ messageId: 'a2', from: 'alerts@ops.test' }) },
  ]);
  if (tickets.length > 0)
    dovecot.seed(
      user,
      LEASE_MAILBOX,
      tickets.map((raw) => ({ raw })),
    );
  return user;
}

/** Message ids of the tickets left in the lease mailbox. */
async function ticketsLeft(dovecot: TestDovecot, user: string): Promise<string[]> {
  const state = await dovecot.mailboxState(user);
  return (state.get(LEASE_MAILBOX) ?? []).map((message) => message.messageId).sort();
}

describe('the account lease in the mailbox', () => {
  let dovecot: TestDovecot;
  before(async () => {
    dovecot = await startDovecot();
  });
  after(async () => {
    await dovecot?.stop();
  });

  it('a live ticket of another machine: the run changes nothing and says who holds the account until when', async () => {
    const expires = new Date(Date.now() + 10 * MINUTE);
    const user = userWith(dovecot, [ticket({ token: 'other', expires, host: 'worker-7.example', pid: 42 })]);
    const summary = await runRuleset(FLAG_ALERTS, dovecot.account(user), {
      state: stateStore,
      lease: 'mailbox',
      dryRun: false,
    });
    assert.deepEqual(summary.busy, {
      holder: 'ruleset elsewhere on worker-7.example, pid 42',
      until: expires.toISOString(),
    });
    assert.equal(summary.incomplete, true);
    assert.equal(hasFailed(summary), false, 'a busy account is not a failure: the next run goes ahead');
    assert.deepEqual(summary.rules, []);
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(state, 'INBOX', '$Done'), []);
    assert.deepEqual(
      await ticketsLeft(dovecot, user),
      ['<other@mailsift.lease>'],
      'our ticket was taken back',
    );
  });

  it('an expired ticket does not block, and the run deletes it', async () => {
    const expires = new Date(Date.now() - MINUTE);
    const user = userWith(dovecot, [ticket({ token: 'old', expires, host: 'worker-7.example', pid: 42 })]);
    const summary = await runRuleset(FLAG_ALERTS, dovecot.account(user), {
      state: stateStore,
      lease: 'mailbox',
      dryRun: false,
    });
    assert.equal(summary.busy, undefined);
    assert.equal(summary.rules[0]?.acted, 2);
    assert.deepEqual(await ticketsLeft(dovecot, user), []);
  });

  it('an unexpired ticket of a process on this machine that is gone does not block, and is deleted', async () => {
    const finished = spawnSync('true');
    assert.ok(finished.pid);
    const expires = new Date(Date.now() + 10 * MINUTE);
    const user = userWith(dovecot, [
      ticket({ token: 'crashed', expires, host: hostname(), boot: BOOT_ID, pid: finished.pid }),
    ]);
    const summary = await runRuleset(FLAG_ALERTS, dovecot.account(user), {
      state: stateStore,
      lease: 'mailbox',
      dryRun: false,
    });
    assert.equal(summary.busy, undefined);
    assert.equal(summary.rules[0]?.acted, 2);
    assert.deepEqual(await ticketsLeft(dovecot, user), []);
  });

  it('a ticket of a live process on this machine blocks', async () => {
    const sleeper = spawn('sleep', ['30']);
    try {
      assert.ok(sleeper.pid);
      const expires = new Date(Date.now() + 10 * MINUTE);
      const user = userWith(dovecot, [
        ticket({ token: 'running', expires, host: hostname(), boot: BOOT_ID, pid: sleeper.pid }),
      ]);
      const summary = await runRuleset(FLAG_ALERTS, dovecot.account(user), {
        state: stateStore,
        lease: 'mailbox',
        dryRun: false,
      });
      assert.match(summary.busy?.holder ?? '', new RegExp(`pid ${sleeper.pid}$`));
      assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'INBOX', '$Done'), []);
    } finally {
      sleeper.kill();
      await once(sleeper, 'exit');
    }
  });

  it('a dry run takes no lease (it only EXAMINEs) and is not held up by one', async () => {
    const expires = new Date(Date.now() + 10 * MINUTE);
    const user = userWith(dovecot, [ticket({ token: 'other', expires, host: 'worker-7.example', pid: 42 })]);
    const summary = await runRuleset(FLAG_ALERTS, dovecot.account(user), {
      state: stateStore,
      lease: 'mailbox',
      dryRun: true,
    });
    assert.equal(summary.busy, undefined);
    assert.equal(summary.rules[0]?.acted, 2);
    assert.deepEqual(await ticketsLeft(dovecot, user), ['<other@mailsift.lease>']);

    const fresh = userWith(dovecot, []);
    await runRuleset(FLAG_ALERTS, dovecot.account(fresh), {
      state: stateStore,
      lease: 'mailbox',
      dryRun: true,
    });
    const mailboxes = await dovecot.doveadm('mailbox', 'list', '-u', fresh);
    assert.doesNotMatch(mailboxes, new RegExp(LEASE_MAILBOX), 'a dry run creates nothing');
  });

  it('a lease mailbox the server refuses is named in the error, and nothing is changed', async () => {
    const proxy = await startFaultProxyFor(dovecot, {
      answer: (tag, line) => (/ APPEND /.test(line) ? `${tag} NO [OVERQUOTA] Quota exceeded\r\n` : undefined),
    });
    try {
      proxy.arm({ kind: 'none' });
      const user = userWith(dovecot, []);
      const summary = await runRuleset(
        FLAG_ALERTS,
        { ...dovecot.account(user), port: proxy.port },
        { state: stateStore, lease: 'mailbox', dryRun: false },
      );
      assert.equal(summary.errorType, 'LeaseError');
      assert.match(
        summary.error ?? '',
        /^the lease mailbox "mailsift-lease" could not be used: APPEND failed with NO \[OVERQUOTA\]/,
      );
      assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'INBOX', '$Done'), []);
    } finally {
      await proxy.close();
    }
  });

  it('creates the lease mailbox on the first run without subscribing it, and leaves it empty', async () => {
    const user = userWith(dovecot, []);
    const summary = await runRuleset(FLAG_ALERTS, dovecot.account(user), {
      state: stateStore,
      lease: 'mailbox',
      dryRun: false,
    });
    assert.equal(summary.rules[0]?.acted, 2);
    assert.match(await dovecot.doveadm('mailbox', 'list', '-u', user), new RegExp(`^${LEASE_MAILBOX}$`, 'm'));
    assert.doesNotMatch(
      await dovecot.doveadm('mailbox', 'list', '-s', '-u', user),
      new RegExp(LEASE_MAILBOX),
    );
    assert.deepEqual(await ticketsLeft(dovecot, user), []);
  });

  it('a run stops before its lease runs out, as incomplete, before touching mail', async () => {
    const user = userWith(dovecot, []);
    // The run stops 15 s before the lease ends: a 10 s lease leaves no time for any rule.
    const summary = await runRuleset(FLAG_ALERTS, dovecot.account(user), {
      state: stateStore,
      lease: 'mailbox',
      dryRun: false,
      leaseMs: 10_000,
    });
    assert.equal(summary.incomplete, true);
    assert.deepEqual(summary.rules, []);
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'INBOX', '$Done'), []);
    assert.deepEqual(await ticketsLeft(dovecot, user), []);
  });
});

describe('the account lease in the mailbox on a server without UIDPLUS', () => {
  let dovecot: TestDovecot;
  before(async () => {
    dovecot = await startDovecot({ withoutCapabilities: ['MOVE', 'UIDPLUS'] });
  });
  after(async () => {
    await dovecot?.stop();
  });

  it('deletes its ticket with EXPUNGE in the lease mailbox only: a message marked \\Deleted elsewhere stays', async () => {
    const user = userWith(dovecot, []);
    const summary = await runRuleset(FLAG_ALERTS, dovecot.account(user), {
      state: stateStore,
      lease: 'mailbox',
      dryRun: false,
    });
    assert.equal(summary.rules[0]?.error, undefined);
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(state, 'INBOX', '$Done'), ['a1', 'a2']);
    assert.deepEqual(idsIn(state, 'INBOX', '\\Deleted'), ['gone']);
    assert.deepEqual(await ticketsLeft(dovecot, user), []);
  });
});
