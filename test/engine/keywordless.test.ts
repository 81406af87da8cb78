/**
 * A server that cannot store keywords (Exchange Online: PERMANENTFLAGS without `\*`, keyword commands answered
 * BAD), reproduced by a proxy in front of the real Dovecot: webhooks still post each message once and interrupted
 * expunges are still finished, from records in the state store; a keyword action fails its rule before anything
 * changes, and the later rules leave that rule's messages alone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runRuleset } from '../../functions/engine/run.ts';
import type { Ruleset } from '../../functions/rules/schema.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { EXCHANGE_KEYWORDS } from '../helpers/exchange-like.ts';
import { type Fault, type FaultProxy, startFaultProxyFor } from '../helpers/fault-proxy.ts';
import { makeMail } from '../helpers/mail.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';
import { idsIn, rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';

const FAST = { connectMs: 2000, greetingMs: 2000, socketMs: 2000 };

let dovecot: TestDovecot;
let proxy: FaultProxy;
let receiver: Receiver;

before(async () => {
  [dovecot, receiver] = await Promise.all([startDovecot(), startReceiver()]);
  proxy = await startFaultProxyFor(dovecot, EXCHANGE_KEYWORDS);
});
after(async () => {
  await proxy?.close();
  await receiver?.close();
  await dovecot?.stop();
});

/** Runs `ruleset` for `user` through the Exchange-like proxy, with `fault` armed, on a state store of its own. */
async function run(
  user: string,
  ruleset: Ruleset,
  options: { state: ReturnType<typeof testState>; fault?: Fault; dryRun?: boolean },
) {
  proxy.arm(options.fault ?? { kind: 'none' });
  const summary = await runRuleset(
    ruleset,
    { ...dovecot.account(user), port: proxy.port },
    {
      state: options.state,
      dryRun: options.dryRun ?? false,
      timeouts: FAST,
    },
  );
  return { summary, commands: [...proxy.commands()], statuses: [...proxy.statuses()] };
}

/** Alerts posted to the receiver, then flagged: the flag is what the rule leaves on a finished message. */
function forwardThenFlag(): Ruleset {
  return rulesetOf(`rules:
  - name: fwd
    match: { from: monitoring@ }
    actions: [{ webhook: { url: '${receiver.url}', attempts: 1 } }, { addFlags: ['\\Flagged'] }]
`);
}

function seed(messages: { id: string; from: string; subject?: string }[]): string {
  const user = dovecot.addUser();
  dovecot.seed(
    user,
    'INBOX',
    messages.map((message) => ({
      raw: makeMail({ messageId: message.id, from: message.from, subject: message.subject ?? message.id }),
    })),
  );
  return user;
}

describe('a server that cannot store keywords (Exchange-like)', () => {
  it('posts each alert once over three runs, applies the later action, and sends no keyword command', async () => {
    const user = seed([
      { id: 'a1', from: 'monitoring@ops.test' },
      { id: 'p1', from: 'friend@home.test' },
      { id: 'a2', from: 'monitoring@ops.test' },
    ]);
    const ruleset = forwardThenFlag();
    const state = testState();
    const posted = receiver.requests.length;
    for (let round = 0; round < 3; round++) {
      const { summary, commands, statuses } = await run(user, ruleset, { state });
      assert.equal(summary.rules[0]?.error, undefined, summary.rules[0]?.error);
      assert.ok(!statuses.includes('BAD'), `no command refused: ${commands.join(' | ')}`);
      // Later runs find both delivered and flagged: nothing is matched again.
      assert.equal(summary.rules[0]?.acted, round === 0 ? 2 : 0, `round ${round}`);
    }
    assert.equal(receiver.requests.length - posted, 2);
    // A dry run cannot see whether keywords are kept (EXAMINE): it asks the server for none, and predicts the same.
    const dry = await run(user, ruleset, { state, dryRun: true });
    assert.equal(dry.summary.rules[0]?.error, undefined, dry.summary.rules[0]?.error);
    assert.ok(!dry.statuses.includes('BAD'), dry.commands.join(' | '));
    assert.equal(dry.summary.rules[0]?.matched, 0);
    const mailboxes = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(mailboxes, 'INBOX', '\\Flagged'), ['a1', 'a2']);
    assert.deepEqual(idsIn(mailboxes, 'INBOX', '$mailsift-fwd-fwd'), [], 'no keyword was stored');
    assert.deepEqual([...mailboxes.keys()], ['INBOX'], 'no mailbox of ours');
  });

  it('a delivered message whose later action was lost is passed on, not posted again', async () => {
    const alerts = [{ id: 'a1', from: 'monitoring@ops.test' }];
    const user = seed(alerts);
    const ruleset = forwardThenFlag();
    const state = testState();
    const reference = await run(seed(alerts), ruleset, { state: testState() });
    const storeAt = reference.commands.findIndex((line) => / UID STORE .*\\Flagged/.test(line)) + 1;
    assert.ok(storeAt > 0);
    const posted = receiver.requests.length;
    const cut = await run(user, ruleset, { state, fault: { kind: 'cut', at: storeAt, when: 'before' } });
    assert.equal(cut.summary.rules[0]?.errorType, 'ImapConnectError');
    const rerun = await run(user, ruleset, { state });
    assert.equal(rerun.summary.rules[0]?.error, undefined);
    assert.equal(receiver.requests.length - posted, 1, 'posted once');
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'INBOX', '\\Flagged'), ['a1']);
  });

  it('a keyword action fails its rule before anything changes, and later rules leave its messages alone', async () => {
    const user = seed([
      { id: 'inv1', from: 'billing@shop.test', subject: 'Invoice 1' },
      { id: 'news1', from: 'news@shop.test', subject: 'Deals' },
    ]);
    // Both match the newsletter rule; the invoice rule came first and would have filed the invoice.
    const ruleset = rulesetOf(`rules:
  - { name: invoices, match: { from: billing@ }, actions: [{ addFlags: ['\\Seen'] }, { addFlags: [$Invoice] }, { moveTo: Finance }] }
  - { name: news, match: { from: '@shop.test' }, actions: [{ addFlags: ['\\Flagged'] }] }
`);
    const { summary, commands } = await run(user, ruleset, { state: testState() });
    assert.equal(summary.rules[0]?.errorType, 'CapabilityError');
    assert.match(summary.rules[0]?.error ?? '', /cannot store \$Invoice .*nothing was changed/);
    assert.ok(!commands.some((line) => / UID (STORE|MOVE|COPY) /.test(line) && !/\\Flagged/.test(line)));
    assert.equal(summary.rules[1]?.acted, 1, 'only the newsletter');
    const mailboxes = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(mailboxes, 'INBOX', '\\Seen'), [], 'the first action did not run either');
    assert.deepEqual(idsIn(mailboxes, 'INBOX', '\\Flagged'), ['news1']);
  });

  it('an expunge cut between its STORE and its UID EXPUNGE is finished by the next run, and only that one', async () => {
    const mail = [
      { id: 'old1', from: 'news@shop.test' },
      { id: 'keep', from: 'friend@home.test' },
      { id: 'old2', from: 'news@shop.test' },
    ];
    const user = seed(mail);
    const ruleset = rulesetOf(`rules:
  - { name: purge, match: { from: news@ }, actions: [{ delete: expunge }] }
`);
    const reference = await run(seed(mail), ruleset, { state: testState() });
    const expungeAt = reference.commands.findIndex((line) => / UID EXPUNGE /.test(line)) + 1;
    assert.ok(expungeAt > 0);
    const state = testState();
    await run(user, ruleset, { state, fault: { kind: 'cut', at: expungeAt, when: 'before' } });
    // Another client marks `keep` \Deleted meanwhile: it is not ours to expunge.
    await dovecot.doveadm(
      'flags',
      'add',
      '-u',
      user,
      '\\Deleted',
      'mailbox',
      'INBOX',
      'header',
      'Message-ID',
      'keep',
    );
    // Nothing new matches; the rerun finishes the interrupted expunge from its record.
    const rerun = await run(user, ruleset, { state });
    assert.deepEqual(rerun.summary.rules[0]?.actions[0], { type: 'finishInterruptedExpunge', count: 2 });
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'INBOX'), ['keep']);
  });
});
