/**
 * The copy journal: a COPY is written down in the state store before it is sent, so that neither a cut
 * connection nor a later action that failed makes the next run copy the same message again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runRuleset } from '../../functions/engine/run.ts';
import { accountScope } from '../../functions/state/store.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { type FaultProxy, startFaultProxyFor } from '../helpers/fault-proxy.ts';
import { makeMail } from '../helpers/mail.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';
import { idsIn, rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';

/** Where these runs keep their state: one real file store for the whole file. */
const stateStore = testState();

const FAST = { connectMs: 2000, greetingMs: 2000, socketMs: 2000 };

const COPY_ONCE = rulesetOf(
  'rules:\n  - { name: keep, match: { from: alerts@, notKeyword: $Copied }, ' +
    'actions: [{ copyTo: Archive }, { addFlags: [$Copied] }] }\n',
);

/** Two alerts the rules copy and one personal message they leave alone. */
function userWith(dovecot: TestDovecot): string {
  const user = dovecot.addUser();
  dovecot.seed(user, 'INBOX', [
    { raw: makeMail({ messageId: 'a1', from: 'alerts@ops.test', subject: 'disk full' }) },
    { raw: makeMail({ messageId: 'p1', from: 'friend@home.test' }) },
    { raw: makeMail({ messageId: 'a2', from: 'alerts@ops.test', subject: 'disk full' }) },
  ]);
  return user;
}

/** The rules whose journal entries are left in the state store for `user` (one name per entry). */
async function journalEntries(dovecot: TestDovecot, user: string): Promise<string[]> {
  const scope = accountScope(dovecot.account(user));
  const entries = await stateStore.list<{ rule: string }>(`${scope}/copies/`);
  return entries.map((entry) => entry.value.rule);
}

describe('the copy journal', () => {
  let dovecot: TestDovecot;
  let withoutUidPlus: TestDovecot;
  let receiver: Receiver;
  let proxy: FaultProxy;
  /** The number of COPY_ONCE's UID COPY among a run's commands. */
  let copyAt: number;
  before(async () => {
    [dovecot, withoutUidPlus, receiver] = await Promise.all([
      startDovecot(),
      startDovecot({ withoutCapabilities: ['MOVE', 'UIDPLUS'] }),
      startReceiver(),
    ]);
    proxy = await startFaultProxyFor(dovecot);
    proxy.arm({ kind: 'none' });
    await runRuleset(COPY_ONCE, viaProxy(userWith(dovecot)), {
      state: stateStore,
      dryRun: false,
      timeouts: FAST,
    });
    // The last one: on a first run the first COPY is answered [TRYCREATE] and retried after the CREATE.
    copyAt = proxy.commands().findLastIndex((line) => / UID COPY /.test(line)) + 1;
    assert.ok(copyAt > 0, 'the run copies');
  });
  after(async () => {
    await proxy?.close();
    await receiver?.close();
    await dovecot?.stop();
    await withoutUidPlus?.stop();
  });

  function viaProxy(user: string) {
    return { ...dovecot.account(user), port: proxy.port };
  }

  /** Runs COPY_ONCE for `user`, cut after the server executed its UID COPY: the sources are not marked. */
  async function cutAfterCopy(user: string): Promise<string> {
    proxy.arm({ kind: 'cut', at: copyAt, when: 'answered' });
    const cut = await runRuleset(COPY_ONCE, viaProxy(user), {
      state: stateStore,
      dryRun: false,
      timeouts: FAST,
    });
    assert.equal(cut.errorType ?? cut.rules[0]?.errorType, 'ImapConnectError');
    const state = await dovecot.mailboxState(user);
    assert.equal(idsIn(state, 'Archive').length, idsIn(state, 'INBOX').length - 1, 'the COPY ran');
    assert.deepEqual(idsIn(state, 'INBOX', '$Copied'), [], 'nothing marked');
    return user;
  }

  it('costs a STATUS per copyTo, and leaves no entry behind after a run that went well', async () => {
    const journaled = await runRuleset(COPY_ONCE, dovecot.account(userWith(dovecot)), {
      state: stateStore,
      dryRun: false,
    });
    const plain = await runRuleset(COPY_ONCE, dovecot.account(userWith(dovecot)), {
      state: stateStore,
      dryRun: false,
      lease: 'none',
    });
    assert.equal(journaled.rules[0]?.error, undefined);
    assert.equal((journaled.rules[0]?.imapCommands ?? 0) - (plain.rules[0]?.imapCommands ?? 0), 1);
    const user = userWith(dovecot);
    await runRuleset(COPY_ONCE, dovecot.account(user), { state: stateStore, dryRun: false });
    assert.deepEqual(await journalEntries(dovecot, user), []);
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'Archive'), ['a1', 'a2']);
  });

  it('a move by UID MOVE needs no entry: it costs nothing more', async () => {
    const move = rulesetOf(
      'rules:\n  - { name: file, match: { from: alerts@ }, actions: [{ moveTo: Archive }] }\n',
    );
    const leased = await runRuleset(move, dovecot.account(userWith(dovecot)), {
      state: stateStore,
      dryRun: false,
    });
    const plain = await runRuleset(move, dovecot.account(userWith(dovecot)), {
      state: stateStore,
      dryRun: false,
      lease: 'none',
    });
    assert.equal(leased.rules[0]?.imapCommands, plain.rules[0]?.imapCommands);
  });

  for (const target of ['Archive', 'Ablage/Café "Reports" 2026/Ü']) {
    it(`a copy whose webhook failed is not made again when the next run posts it (into ${target})`, async () => {
      const ruleset = rulesetOf(
        'rules:\n  - { name: fwd, match: { from: alerts@ }, ' +
          `actions: [{ copyTo: '${target}' }, { webhook: { url: '${receiver.url}', attempts: 1 } }] }\n`,
      );
      const user = userWith(dovecot);
      receiver.respondWith(500, 500);
      const failed = await runRuleset(ruleset, dovecot.account(user), { state: stateStore, dryRun: false });
      assert.equal(failed.rules[0]?.errorType, 'DeliveryError');
      // The entry stays: its messages were copied but not finished.
      assert.deepEqual(await journalEntries(dovecot, user), ['fwd']);

      const posted = receiver.requests.length;
      const retried = await runRuleset(ruleset, dovecot.account(user), { state: stateStore, dryRun: false });
      assert.equal(retried.rules[0]?.error, undefined, retried.rules[0]?.error);
      assert.equal(receiver.requests.length - posted, 2);
      const state = await dovecot.mailboxState(user);
      assert.deepEqual(idsIn(state, target), ['a1', 'a2'], 'one copy of each alert, not two');
      assert.deepEqual(await journalEntries(dovecot, user), [], 'the entry is used up');

      // The target exists now: its STATUS (UIDNEXT) is read before the next COPY into it.
      dovecot.seed(user, 'INBOX', [{ raw: makeMail({ messageId: 'a3', from: 'alerts@ops.test' }) }]);
      const next = await runRuleset(ruleset, dovecot.account(user), { state: stateStore, dryRun: false });
      assert.equal(next.rules[0]?.error, undefined, next.rules[0]?.error);
      assert.deepEqual(idsIn(await dovecot.mailboxState(user), target), ['a1', 'a2', 'a3']);
    });
  }

  it('after a cut right after the COPY: the rerun copies nothing again, but what was deleted by hand again', async () => {
    const kept = await cutAfterCopy(userWith(dovecot));
    const rerun = await runRuleset(COPY_ONCE, dovecot.account(kept), { state: stateStore, dryRun: false });
    assert.equal(rerun.rules[0]?.error, undefined);
    let state = await dovecot.mailboxState(kept);
    assert.deepEqual(idsIn(state, 'Archive'), ['a1', 'a2']);
    assert.deepEqual(idsIn(state, 'INBOX', '$Copied'), ['a1', 'a2']);
    assert.deepEqual(await journalEntries(dovecot, kept), []);

    const deleted = await cutAfterCopy(userWith(dovecot));
    await dovecot.doveadm('expunge', '-u', deleted, 'mailbox', 'Archive', 'header', 'Message-ID', 'a1');
    await runRuleset(COPY_ONCE, dovecot.account(deleted), { state: stateStore, dryRun: false });
    state = await dovecot.mailboxState(deleted);
    assert.deepEqual(idsIn(state, 'Archive'), ['a1', 'a2'], 'a1 copied again, a2 not');
    assert.deepEqual(idsIn(state, 'INBOX', '$Copied'), ['a1', 'a2']);
  });

  it('two identical messages need two copies: one copy found stands for one of them', async () => {
    const user = dovecot.addUser();
    const twin = { raw: makeMail({ messageId: 'twin', from: 'alerts@ops.test' }), internalDate: new Date(0) };
    dovecot.seed(user, 'INBOX', [
      twin,
      twin,
      { raw: makeMail({ messageId: 'p1', from: 'friend@home.test' }) },
    ]);
    await cutAfterCopy(user);
    await dovecot.doveadm('expunge', '-u', user, 'mailbox', 'Archive', 'uid', '1');
    await runRuleset(COPY_ONCE, dovecot.account(user), { state: stateStore, dryRun: false });
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'Archive'), ['twin', 'twin']);
  });

  it('works without UIDPLUS too, and leaves no entry behind', async () => {
    const user = userWith(withoutUidPlus);
    const summary = await runRuleset(COPY_ONCE, withoutUidPlus.account(user), {
      state: stateStore,
      dryRun: false,
    });
    assert.equal(summary.rules[0]?.error, undefined, summary.rules[0]?.error);
    assert.deepEqual(await journalEntries(withoutUidPlus, user), []);
    assert.deepEqual(idsIn(await withoutUidPlus.mailboxState(user), 'Archive'), ['a1', 'a2']);
  });
});
