/**
 * `undo` against the real Dovecot, with and without MOVE: a run, then its undo, and every message is back in its
 * folder with its flags and keywords (UIDs in a folder may differ: a message moved back gets a new one; folders
 * the run created stay, empty). And what an undo cannot do, said: messages moved elsewhere or expunged since, a
 * deleted target folder, an expunge for good, an undo done twice.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type UndoReport, undoRun } from '../../../functions/engine/history/undo.ts';
import { runRuleset } from '../../../functions/engine/run.ts';
import { historyEntries } from '../../../functions/history.ts';
import type { StateStore } from '../../../functions/state/store.ts';
import { CORPUS } from '../../helpers/corpus.ts';
import { startDovecot, type TestDovecot } from '../../helpers/dovecot.ts';
import { startFaultProxyFor } from '../../helpers/fault-proxy.ts';
import { makeMail } from '../../helpers/mail.ts';
import { otherClient } from '../../helpers/other-client.ts';
import { rulesetOf } from '../../helpers/rulesets.ts';
import { testState } from '../../helpers/state.ts';
import { WITHOUT_UIDPLUS } from '../../helpers/without-uidplus.ts';

const FAST = { connectMs: 2000, greetingMs: 2000, socketMs: 2000 };

let withMove: TestDovecot;
let withoutMove: TestDovecot;

before(async () => {
  [withMove, withoutMove] = await Promise.all([
    startDovecot(),
    startDovecot({ withoutCapabilities: ['MOVE'] }),
  ]);
});
after(async () => {
  await withMove?.stop();
  await withoutMove?.stop();
});

/** Every action type that can be undone, and a flag a message had already (news2 is \Flagged, inv1 \Seen). */
const EVERY_ACTION = rulesetOf(`rules:
  - { name: flags, match: { from: news@ }, actions: [{ addFlags: ['\\Seen', $News] }, { removeFlags: ['\\Flagged'] }] }
  - { name: copy, match: { from: anna@ }, actions: [{ copyTo: Personal }] }
  - { name: file, match: { from: billing@ }, actions: [{ addFlags: ['\\Seen', $Invoice] }, { moveTo: Finance/Invoices }] }
  - { name: bin, match: { from: monitoring@ }, actions: [{ delete: trash }] }
`);

/** message id → where each copy is with its flags, e.g. `INBOX \Seen $News` (UIDs left out: they may change). */
async function where(server: TestDovecot, user: string): Promise<Map<string, string[]>> {
  const state = new Map<string, string[]>();
  for (const [mailbox, messages] of await server.mailboxState(user)) {
    for (const message of messages) {
      const id = message.messageId.replace(/^<(.*)@test>$/, '$1');
      const flags = message.flags.filter((flag) => flag !== '\\Recent');
      state.set(id, [...(state.get(id) ?? []), [mailbox, ...flags].join(' ')].sort());
    }
  }
  return state;
}

async function runAndEntry(server: TestDovecot, user: string, state: StateStore) {
  const summary = await runRuleset(EVERY_ACTION, server.account(user), { state, dryRun: false });
  for (const rule of summary.rules) assert.equal(rule.error, undefined, `${rule.name}: ${rule.error}`);
  assert.ok(summary.runId, 'the run has an id');
  const [entry] = await historyEntries(state, summary.runId, {});
  assert.ok(entry, 'the run is in the history');
  return entry;
}

for (const [name, server] of [
  ['with MOVE', () => withMove],
  ['without MOVE (COPY, UID EXPUNGE)', () => withoutMove],
] as const) {
  describe(`undo ${name}`, () => {
    it('puts every message back in its folder with its flags; a flag it had already stays', async () => {
      const dovecot = server();
      const user = dovecot.addUser();
      dovecot.seed(user, 'INBOX', CORPUS);
      const state = testState();
      const seeded = await where(dovecot, user);
      const entry = await runAndEntry(dovecot, user, state);
      assert.notDeepEqual(await where(dovecot, user), seeded, 'the run changed things');

      const dry = await undoRun(entry, dovecot.account(user), { state, dryRun: true });
      assert.deepEqual(dry.notUndone, []);
      assert.notDeepEqual(await where(dovecot, user), seeded, 'a dry undo changes nothing');

      const report = await undoRun(entry, dovecot.account(user), { state, dryRun: false });
      assert.deepEqual(report.notUndone, []);
      assert.deepEqual(await where(dovecot, user), seeded);
      assert.ok(report.undoId, 'the undo is in the history too');

      // Twice: nothing more to do, and it says why.
      const again = await undoRun(entry, dovecot.account(user), { state, dryRun: false });
      assert.deepEqual(again.restored, []);
      assert.ok(again.notUndone.every((line) => line.why === `already undone by ${report.undoId}`));
      assert.deepEqual(await where(dovecot, user), seeded);
    });
  });
}

describe('undo without UIDPLUS (MOVE, but no COPYUID)', () => {
  it('finds moved messages by Message-ID and says so; copies it cannot remove safely are reported', async () => {
    const proxy = await startFaultProxyFor(withMove, WITHOUT_UIDPLUS);
    try {
      const user = withMove.addUser();
      withMove.seed(user, 'INBOX', CORPUS);
      const account = { ...withMove.account(user), port: proxy.port };
      const state = testState();
      const seeded = await where(withMove, user);
      const summary = await runRuleset(EVERY_ACTION, account, { state, dryRun: false });
      assert.equal(summary.server?.uidPlus, false, 'the run saw no UIDPLUS');
      const [entry] = await historyEntries(state, summary.runId, {});
      assert.ok(entry);
      const file = entry.rules.find((rule) => rule.name === 'file')?.actions.at(-1);
      assert.equal(file?.to?.uids, undefined, 'no COPYUID came back');
      assert.deepEqual(file?.to?.messageIds, ['<inv1@test>', '<inv2@test>']);
      const afterRun = await where(withMove, user);

      const report = await undoRun(entry, account, { state, dryRun: false });
      assert.deepEqual(
        report.notUndone.map((line) => `${line.rule} ${line.count} ${line.why}`),
        ['copy 1 copies cannot be removed safely without UIDPLUS (UID EXPUNGE)'],
      );
      assert.deepEqual(
        report.restored.filter((line) => line.why).map((line) => `${line.rule} ${line.action} ${line.count}`),
        ['bin delete Trash 2', 'file moveTo Finance/Invoices 2'],
        'the moves found by Message-ID, said so',
      );
      // Back as before the run, but for the copy in Personal, which is still there (reported).
      const after = await where(withMove, user);
      const withoutPersonal = new Map(
        [...after].map(([id, places]) => [id, places.filter((place) => !place.startsWith('Personal'))]),
      );
      assert.deepEqual(withoutPersonal, seeded);
      assert.deepEqual(
        [...after]
          .filter(([, places]) => places.some((place) => place.startsWith('Personal')))
          .map(([id]) => id),
        ['personal'],
      );

      // The undo's own moves carry the same trail: undoing the undo puts the run's changes back.
      assert.ok(report.undoId);
      const [undoEntry] = await historyEntries(state, report.undoId, {});
      assert.ok(undoEntry);
      const again = await undoRun(undoEntry, account, { state, dryRun: false });
      assert.deepEqual(again.notUndone, []);
      assert.deepEqual(await where(withMove, user), afterRun);
    } finally {
      await proxy.close();
    }
  });
});

describe('undo without MOVE and without UIDPLUS', () => {
  it('the run refuses moves (nothing changed by those rules); flags come back, copies are reported', async () => {
    const proxy = await startFaultProxyFor(withoutMove, WITHOUT_UIDPLUS);
    try {
      const user = withoutMove.addUser();
      withoutMove.seed(user, 'INBOX', CORPUS);
      const account = { ...withoutMove.account(user), port: proxy.port };
      const state = testState();
      const seeded = await where(withoutMove, user);
      const summary = await runRuleset(EVERY_ACTION, account, { state, dryRun: false });
      // Neither MOVE nor UID EXPUNGE: a plain EXPUNGE would remove other clients' deleted mail too.
      assert.deepEqual(
        summary.rules.map((rule) => [rule.name, rule.errorType]),
        [
          ['flags', undefined],
          ['copy', undefined],
          ['file', 'CapabilityError'],
          ['bin', 'CapabilityError'],
        ],
      );
      const [entry] = await historyEntries(state, summary.runId, {});
      assert.ok(entry);
      const report = await undoRun(entry, account, { state, dryRun: false });
      assert.deepEqual(
        report.notUndone.map((line) => `${line.rule} ${line.count} ${line.why}`),
        ['copy 1 copies cannot be removed safely without UIDPLUS (UID EXPUNGE)'],
      );
      const after = await where(withoutMove, user);
      const withoutPersonal = new Map(
        [...after].map(([id, places]) => [id, places.filter((place) => !place.startsWith('Personal'))]),
      );
      assert.deepEqual(withoutPersonal, seeded, 'the flags are back, and the failed rules changed nothing');
    } finally {
      await proxy.close();
    }
  });
});

describe('undo: what it cannot do', () => {
  it('reports messages moved or expunged since, and touches nothing else', async () => {
    const user = withMove.addUser();
    withMove.seed(user, 'INBOX', [
      ...CORPUS,
      { raw: makeMail({ messageId: 'inv3', from: 'billing@acme.test', subject: 'Invoice 3' }) },
    ]);
    const state = testState();
    const entry = await runAndEntry(withMove, user, state);
    const other = await otherClient(withMove, user);
    try {
      await other.create('Elsewhere');
      await other.move('Finance/Invoices', '<inv3@test>', 'Elsewhere');
      await other.expunge('Trash', '<alert1@test>');
    } finally {
      await other.close();
    }
    const report = await undoRun(entry, withMove.account(user), { state, dryRun: false });
    const reasons = report.notUndone.map((line) => `${line.rule} ${line.count} ${line.why}`).sort();
    assert.deepEqual(reasons, [
      'bin 1 no longer in Trash, nor anywhere else by its Message-ID (expunged since)',
      // inv3 was flagged, then filed; it is in Elsewhere now and keeps its flags.
      'file 1 moved to Elsewhere since (found by Message-ID): left there',
      'file 1 not where the run left them any more',
    ]);
    const after = await where(withMove, user);
    assert.deepEqual(after.get('inv3'), ['Elsewhere $Invoice \\Seen']);
    assert.equal(after.get('alert1'), undefined);
    assert.deepEqual(after.get('inv1'), ['INBOX \\Seen']);
    assert.deepEqual(after.get('alert2'), ['INBOX \\Answered']);
  });

  it('says so when the target folder was deleted, and when messages were expunged for good', async () => {
    const user = withMove.addUser();
    withMove.seed(user, 'INBOX', CORPUS);
    const state = testState();
    const summary = await runRuleset(
      rulesetOf(`rules:
  - { name: file, match: { from: billing@ }, actions: [{ moveTo: Gone }] }
  - { name: purge, match: { from: monitoring@ }, actions: [{ delete: expunge }] }
`),
      withMove.account(user),
      { state, dryRun: false },
    );
    const [entry] = await historyEntries(state, summary.runId, {});
    assert.ok(entry);
    await withMove.doveadm('mailbox', 'delete', '-u', user, '-r', 'Gone');
    const report = await undoRun(entry, withMove.account(user), { state, dryRun: false });
    assert.deepEqual(
      report.notUndone.map((line) => `${line.rule} ${line.count} ${line.why}`),
      ['purge 2 expunged for good', 'file 2 Gone no longer exists'],
    );
  });

  it('refuses a run from before the mailbox was restored from a backup, and says why', async () => {
    const user = withMove.addUser();
    withMove.seed(user, 'INBOX', CORPUS);
    withMove.seed(user, 'Filed', []);
    const backup = withMove.snapshot(user);
    const state = testState();
    const summary = await runRuleset(
      rulesetOf(`rules:
  - { name: file, match: { from: billing@ }, actions: [{ addFlags: [$Filed] }, { moveTo: Filed }] }
`),
      withMove.account(user),
      { state, dryRun: false },
    );
    const [entry] = await historyEntries(state, summary.runId, {});
    assert.ok(entry);
    backup.restore();
    const restored = await where(withMove, user);
    const refusals = (report: UndoReport) => ({
      restored: report.restored.reduce((sum, line) => sum + line.count, 0),
      notUndone: report.notUndone.map((line) => `${line.action} ${line.count} ${line.why}`),
    });
    const wentBack =
      'Filed went back since the run (UIDNEXT 1 <= UID 2 the run knew there: restored from a backup?), so its UIDs may name other messages now';
    assert.deepEqual(refusals(await undoRun(entry, withMove.account(user), { state, dryRun: false })), {
      restored: 0,
      notUndone: [`addFlags $Filed 2 ${wentBack}`, `moveTo Filed 2 ${wentBack}`],
    });
    assert.deepEqual(await where(withMove, user), restored, 'the undo touched nothing');
    // New mail since the restore took the UIDs the run had moved to: the Message-IDs tell them apart.
    withMove.seed(
      user,
      'Filed',
      ['n1', 'n2', 'n3'].map((id) => ({ raw: makeMail({ messageId: id, from: 'billing@acme.test' }) })),
    );
    const delivered = await where(withMove, user);
    const again = refusals(await undoRun(entry, withMove.account(user), { state, dryRun: false }));
    assert.deepEqual(again.notUndone, [
      'moveTo Filed 2 Filed holds other messages at those UIDs now (not the Message-IDs the run moved: restored from a backup?)',
    ]);
    assert.deepEqual(await where(withMove, user), delivered, 'the undo moved none of the new mail');
  });
});

describe('undo of chained moves', () => {
  it('takes back a move of messages an earlier rule of the run had moved, then that one: all back home', async () => {
    const user = withMove.addUser();
    withMove.seed(user, 'INBOX', CORPUS);
    const state = testState();
    const seeded = await where(withMove, user);
    const summary = await runRuleset(
      rulesetOf(`rules:
  - { name: stage, match: { from: billing@ }, actions: [{ moveTo: Stage }] }
  - { name: final, mailbox: Stage, match: { from: billing@ }, actions: [{ addFlags: [$Done] }, { moveTo: Final }] }
`),
      withMove.account(user),
      { state, dryRun: false },
    );
    assert.deepEqual(
      summary.rules.map((rule) => rule.acted),
      [2, 2],
    );
    const [entry] = await historyEntries(state, summary.runId, {});
    assert.ok(entry);
    const dry = await undoRun(entry, withMove.account(user), { state, dryRun: true });
    assert.deepEqual(dry.notUndone, [], 'the dry run follows the chain too');
    assert.deepEqual(
      dry.restored.map((line) => `${line.rule} ${line.action} ${line.count}`),
      ['final addFlags $Done 2', 'final moveTo Final 2', 'stage moveTo Stage 2'],
    );
    const report = await undoRun(entry, withMove.account(user), { state, dryRun: false });
    assert.deepEqual(report.notUndone, []);
    assert.deepEqual(await where(withMove, user), seeded);
  });
});

describe('undo of some rules', () => {
  it('--rule takes back that rule only; a later undo of the run takes back the rest', async () => {
    const user = withMove.addUser();
    withMove.seed(user, 'INBOX', CORPUS);
    const state = testState();
    const seeded = await where(withMove, user);
    const entry = await runAndEntry(withMove, user, state);
    const first = await undoRun(entry, withMove.account(user), { state, dryRun: false, rule: 'file' });
    assert.deepEqual(first.notUndone, []);
    assert.deepEqual((await where(withMove, user)).get('inv1'), seeded.get('inv1'), 'the invoices are back');
    assert.notDeepEqual(
      (await where(withMove, user)).get('news1'),
      seeded.get('news1'),
      'the newsletters are not',
    );
    const rest = await undoRun(entry, withMove.account(user), { state, dryRun: false });
    assert.deepEqual(
      rest.notUndone.map((line) => line.rule),
      ['file', 'file'],
      'the rule undone before is said to be',
    );
    assert.deepEqual(await where(withMove, user), seeded);
  });
});

describe('undo cut by a lost connection', () => {
  for (const [name, server] of [
    ['with MOVE', () => withMove],
    ['without MOVE (COPY back once, UID EXPUNGE written down)', () => withoutMove],
  ] as const)
    it(`${name}, at every command: a rerun of the undo ends in the state before the run`, async (t) => {
      const dovecot = server();
      const proxy = await startFaultProxyFor(dovecot);
      try {
        const prepared = async () => {
          const user = dovecot.addUser();
          dovecot.seed(user, 'INBOX', CORPUS);
          const state = testState();
          const seeded = await where(dovecot, user);
          return { user, state, seeded, entry: await runAndEntry(dovecot, user, state) };
        };
        const through = (user: string) => ({ ...dovecot.account(user), port: proxy.port });
        const reference = await prepared();
        proxy.arm({ kind: 'none' });
        await undoRun(reference.entry, through(reference.user), {
          state: reference.state,
          dryRun: false,
          timeouts: FAST,
        });
        const commands = proxy.commands().length;
        t.diagnostic(`${commands} commands, ${commands * 2} cut undos`);
        for (let at = 1; at <= commands; at++) {
          for (const when of ['before', 'answered'] as const) {
            const { user, state, seeded, entry } = await prepared();
            proxy.arm({ kind: 'cut', at, when });
            await undoRun(entry, through(user), { state, dryRun: false, timeouts: FAST }).catch(
              () => undefined,
            );
            await undoRun(entry, dovecot.account(user), { state, dryRun: false });
            assert.deepEqual(
              await where(dovecot, user),
              seeded,
              `cut ${when} command ${at} (${proxy.struck()})`,
            );
          }
        }
      } finally {
        await proxy.close();
      }
    });
});
