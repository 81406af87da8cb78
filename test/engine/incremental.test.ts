import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RulesetSummary, type RunOptions, runRuleset, runRulesets } from '../../functions/engine/run.ts';
import type { Ruleset } from '../../functions/rules/schema.ts';
import { accountScope } from '../../functions/state/store.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { FaultyStateStore } from '../helpers/faulty-store.ts';
import { idOf, makeMail } from '../helpers/mail.ts';
import { type OtherClient, otherClient } from '../helpers/other-client.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';
import { runRecorded } from '../helpers/recorded-run.ts';
import { idsIn, rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';

const stateStore = testState();
let dovecot: TestDovecot;
let withoutWithin: TestDovecot;
let receiver: Receiver;
const clients: OtherClient[] = [];

before(async () => {
  [dovecot, withoutWithin, receiver] = await Promise.all([
    startDovecot(),
    startDovecot({ withoutCapabilities: ['WITHIN'] }),
    startReceiver(),
  ]);
});
after(async () => {
  for (const client of clients) await client.close();
  await Promise.all([dovecot?.stop(), withoutWithin?.stop(), receiver?.close()]);
});

async function run(user: string, ruleset: Ruleset, options: Partial<RunOptions> = {}, server = dovecot) {
  return await runRuleset(ruleset, server.account(user), { dryRun: false, state: stateStore, ...options });
}

async function other(user: string, server = dovecot): Promise<OtherClient> {
  const client = await otherClient(server, user);
  clients.push(client);
  return client;
}

function scans(summary: RulesetSummary) {
  assert.equal(summary.error, undefined, summary.error);
  return summary.rules.map((rule) => [rule.scan, rule.scanReason ?? '']);
}

const FILING = rulesetOf(`
rules:
  - name: invoices
    match: { from: billing@ }
    actions: [{ moveTo: Finance }]
  - name: tag-news
    match: { from: news@ }
    actions: [{ addFlags: [$News] }]
`);

/** A threshold of minutes, shorter than an incremental run's window slack. */
const AGE_OUT_2M = rulesetOf(`
rules:
  - name: age-out
    match: { olderThan: 2m }
    actions: [{ moveTo: Aged }]
`);

function seedMixed(server: TestDovecot, user: string, count: number, prefix = 'm') {
  server.seed(
    user,
    'INBOX',
    Array.from({ length: count }, (_, index) => ({
      raw: makeMail({
        messageId: `${prefix}${index}`,
        from:
          index % 3 === 0 ? 'billing@acme.test' : index % 3 === 1 ? 'news@letters.test' : 'anna@example.com',
      }),
    })),
  );
}

describe('incremental runs', () => {
  it('scan in full first, then only what changed; an unchanged mailbox costs no SEARCH', async () => {
    const user = dovecot.addUser();
    seedMixed(dovecot, user, 9);
    const first = await run(user, FILING);
    assert.deepEqual(scans(first), [
      ['full', 'first run'],
      ['full', 'first run'],
    ]);
    assert.deepEqual(
      first.rules.map((rule) => rule.acted),
      [3, 3],
    );
    // The tags changed HIGHESTMODSEQ: the second run looks at those three again; they carry the tag already.
    const second = await runRecorded(dovecot, user, FILING, { dryRun: false, state: stateStore });
    assert.deepEqual(scans(second.summary), [
      ['incremental', ''],
      ['incremental', ''],
    ]);
    assert.deepEqual(
      second.summary.rules.map((rule) => [rule.matched, rule.acted]),
      [
        [0, 0],
        [0, 0],
      ],
    );
    assert.ok(
      second.lines.some((line) => /^UID SEARCH .*MODSEQ/.test(line)),
      second.lines.join('\n'),
    );
    const third = await runRecorded(dovecot, user, FILING, { dryRun: false, state: stateStore });
    assert.deepEqual(scans(third.summary), [
      ['incremental', ''],
      ['incremental', ''],
    ]);
    assert.deepEqual(
      third.lines.filter((line) => /SEARCH|FETCH/.test(line)),
      [],
    );
  });

  it('cost the same commands per rule for 1% new mail as for 0.1%', async () => {
    const many = dovecot.addUser();
    const few = dovecot.addUser();
    seedMixed(dovecot, many, 2000);
    seedMixed(dovecot, few, 2000);
    await run(many, FILING);
    await run(few, FILING);
    seedMixed(dovecot, many, 20, 'new');
    seedMixed(dovecot, few, 2, 'new');
    const afterMany = await run(many, FILING);
    const afterFew = await run(few, FILING);
    assert.deepEqual(scans(afterMany), [
      ['incremental', ''],
      ['incremental', ''],
    ]);
    assert.deepEqual(
      afterMany.rules.map((rule) => rule.acted),
      [7, 7],
    );
    assert.deepEqual(
      afterFew.rules.map((rule) => rule.acted),
      [1, 1],
    );
    assert.deepEqual(
      afterMany.rules.map((rule) => rule.imapCommands),
      afterFew.rules.map((rule) => rule.imapCommands),
    );
  });

  it('drain a limit backlog of a flag-only rule over runs, and only then keep a checkpoint', async () => {
    const user = dovecot.addUser();
    dovecot.seed(
      user,
      'INBOX',
      Array.from({ length: 100 }, (_, index) => ({
        raw: makeMail({ messageId: `s${index}`, subject: 'slow' }),
      })),
    );
    const ruleset = rulesetOf(`
rules:
  - name: slow
    match: { subject: slow }
    limit: 40
    actions: [{ addFlags: [$Slow] }]
`);
    const acted: number[] = [];
    const reasons: string[] = [];
    for (let index = 0; index < 4; index += 1) {
      const summary = await run(user, ruleset);
      acted.push(summary.rules[0]?.acted ?? -1);
      reasons.push(`${summary.rules[0]?.scan} ${summary.rules[0]?.scanReason ?? ''}`.trim());
    }
    assert.deepEqual(acted, [40, 40, 20, 0]);
    // Left over messages keep the checkpoint from being written: each run until the backlog is gone is a full one.
    assert.deepEqual(reasons, ['full first run', 'full first run', 'full first run', 'incremental']);
    assert.equal(idsIn(await dovecot.mailboxState(user), 'INBOX', '$Slow').length, 100);
  });

  it('retry a failed webhook delivery on the next run, although its UID is below the checkpoint', async () => {
    const user = dovecot.addUser();
    dovecot.seed(user, 'INBOX', [{ raw: makeMail({ messageId: 'old-alert', from: 'alerts@ops.test' }) }]);
    const ruleset = rulesetOf(`
rules:
  - name: flagged-alerts
    match: { flagged: true }
    actions: [{ webhook: { url: '${receiver.url}', attempts: 1 } }]
`);
    assert.deepEqual(scans(await run(user, ruleset)), [['full', 'first run']]);
    await (await other(user)).flags('INBOX', idOf('old-alert'), 'add', ['\\Flagged']);
    receiver.respondWith(500);
    const failed = await run(user, ruleset);
    assert.equal(failed.rules[0]?.scan, 'incremental');
    assert.equal(failed.rules[0]?.failed?.length, 1);
    // Not delivered is not acted on: it waits for the next run.
    assert.deepEqual([failed.rules[0]?.matched, failed.rules[0]?.acted], [1, 0]);
    const before = receiver.requests.length;
    const retried = await run(user, ruleset);
    assert.deepEqual(scans(retried), [['incremental', '']]);
    assert.equal(retried.rules[0]?.acted, 1);
    assert.equal(receiver.requests.length, before + 1);
    const after = await run(user, ruleset);
    assert.equal(after.rules[0]?.acted, 0);
    assert.equal(receiver.requests.length, before + 1);
  });

  it('act on a message marked unread again, and on one moved back from the target folder', async () => {
    const user = dovecot.addUser();
    dovecot.seed(user, 'INBOX', [
      { raw: makeMail({ messageId: 'read-news', from: 'news@letters.test' }), flags: 'S' },
      { raw: makeMail({ messageId: 'bill', from: 'billing@acme.test' }) },
    ]);
    const ruleset = rulesetOf(`
rules:
  - name: unread-news
    match: { from: news@, seen: false }
    actions: [{ moveTo: Unread }]
  - name: invoices
    match: { from: billing@ }
    actions: [{ moveTo: Finance }]
`);
    await run(user, ruleset);
    const client = await other(user);
    await client.flags('INBOX', idOf('read-news'), 'remove', ['\\Seen']);
    await client.move('Finance', idOf('bill'), 'INBOX');
    const second = await run(user, ruleset);
    assert.deepEqual(scans(second), [
      ['incremental', ''],
      ['incremental', ''],
    ]);
    assert.deepEqual(
      second.rules.map((rule) => rule.acted),
      [1, 1],
    );
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(state, 'Unread'), ['read-news']);
    assert.deepEqual(idsIn(state, 'Finance'), ['bill']);
  });

  for (const [name, server] of [
    ['with WITHIN', () => dovecot],
    ['without WITHIN (whole days and a client-side check)', () => withoutWithin],
  ] as const) {
    it(`see olderThan: 2m start to hold with no change in the mailbox, ${name}`, async () => {
      const real = Date.now();
      const user = server().addUser();
      server().seed(user, 'INBOX', [
        { raw: makeMail({ messageId: 'young' }), internalDate: new Date(real - 10 * 60_000) },
      ]);
      const ruleset = AGE_OUT_2M;
      const first = await run(user, ruleset, { now: new Date(real - 9 * 60_000) }, server());
      assert.equal(first.rules[0]?.acted, 0);
      const second = await run(user, ruleset, { now: new Date(real - 7 * 60_000) }, server());
      assert.deepEqual(scans(second), [['incremental', '']]);
      assert.equal(second.rules[0]?.acted, 1);
      assert.deepEqual(idsIn(await server().mailboxState(user), 'Aged'), ['young']);
    });
  }

  it('send no zero interval for a threshold shorter than the window slack (olderThan: 2m, runs 45 s apart)', async () => {
    // RFC 5032 §3: OLDER and YOUNGER take non-zero seconds; Dovecot answers `OLDER 0` with BAD.
    const real = Date.now();
    const user = dovecot.addUser();
    dovecot.seed(user, 'INBOX', [
      { raw: makeMail({ messageId: 'crosses' }), internalDate: new Date(real - 150_000) },
      { raw: makeMail({ messageId: 'fresh' }), internalDate: new Date(real - 30_000) },
    ]);
    const ruleset = AGE_OUT_2M;
    const first = await run(user, ruleset, { now: new Date(real - 45_000) });
    assert.equal(first.rules[0]?.acted, 0);
    const second = await run(user, ruleset, { now: new Date(real) });
    assert.deepEqual(scans(second), [['incremental', '']]);
    assert.equal(second.rules[0]?.error, undefined, second.rules[0]?.error);
    assert.equal(second.rules[0]?.acted, 1);
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'Aged'), ['crosses']);
  });

  it('scan in full a mailbox deleted and created again, with new messages at the same UIDs', async () => {
    const user = dovecot.addUser();
    const client = await other(user);
    const deliver = async (ids: string[]) => {
      for (const id of ids)
        await client.deliver('Lists', makeMail({ messageId: id, from: 'news@letters.test' }));
    };
    await client.create('Lists');
    await deliver(['l1', 'l2']);
    const ruleset = rulesetOf(`
mailbox: Lists
rules:
  - name: tag
    match: { from: news@ }
    actions: [{ addFlags: [$News] }]
`);
    await run(user, ruleset);
    await run(user, ruleset);
    await client.recreate('Lists');
    await deliver(['l3', 'l4']);
    const renewed = await run(user, ruleset);
    assert.deepEqual(scans(renewed), [['full', 'uidvalidity changed']]);
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'Lists', '$News'), ['l3', 'l4']);
  });

  it('scan in full a mailbox restored from a backup (same UIDVALIDITY), and act as a full scan would', async () => {
    const user = dovecot.addUser();
    await (await other(user)).create('Finance');
    seedMixed(dovecot, user, 30, 'r');
    const backup = dovecot.snapshot(user);
    // Filed, then more mail filed: the checkpoint is past the backup in HIGHESTMODSEQ and in UIDNEXT.
    assert.deepEqual(scans(await run(user, FILING)), [
      ['full', 'first run'],
      ['full', 'first run'],
    ]);
    seedMixed(dovecot, user, 6, 'late');
    assert.deepEqual(
      scans(await run(user, FILING)).map(([scan]) => scan),
      ['incremental', 'incremental'],
    );
    backup.restore();
    const restored = await run(user, FILING);
    const [reason] = scans(restored).map(([, why]) => why);
    assert.match(reason ?? '', /^mailbox went back: HIGHESTMODSEQ \d+ < \d+$/);
    assert.deepEqual(
      scans(restored).map(([scan]) => scan),
      ['full', 'full'],
    );
    // Everything the backup brought back is filed again, exactly as a first run over it would.
    assert.deepEqual(
      restored.rules.map((rule) => rule.acted),
      [10, 10],
    );
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(
      idsIn(state, 'Finance'),
      Array.from({ length: 10 }, (_, index) => `r${index * 3}`).sort(),
    );
    assert.deepEqual(idsIn(state, 'INBOX', '$News').length, 10);
    assert.deepEqual(
      scans(await run(user, FILING)).map(([scan]) => scan),
      ['incremental', 'incremental'],
    );
  });

  it('scan in full a mailbox restored from a backup taken just before the run that filed its mail', async () => {
    const user = dovecot.addUser();
    await (await other(user)).create('Finance');
    seedMixed(dovecot, user, 9, 'j');
    await run(user, FILING);
    seedMixed(dovecot, user, 3, 'k');
    // Exactly as the next run's SELECT will find it: only that run's own changes tell the restore apart.
    const backup = dovecot.snapshot(user);
    const filing = await run(user, FILING);
    assert.deepEqual(
      filing.rules.map((rule) => rule.acted),
      [1, 1],
    );
    backup.restore();
    const restored = await run(user, FILING);
    // Back to the SELECT's HIGHESTMODSEQ, below what the server said the run's changes took it to.
    for (const [scan, why] of scans(restored)) {
      assert.equal(scan, 'full');
      const [, now, reached] = /^mailbox went back: HIGHESTMODSEQ (\d+) < (\d+)$/.exec(why ?? '') ?? [];
      assert.ok(Number(reached) > Number(now), why);
    }
    assert.deepEqual(
      restored.rules.map((rule) => rule.acted),
      [1, 1],
    );
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'Finance'), ['j0', 'j3', 'j6', 'k0']);
  });

  it('get past a checkpoint file that is not JSON with --full, setting it aside', async () => {
    const user = dovecot.addUser();
    seedMixed(dovecot, user, 3, 'f');
    await run(user, FILING);
    const [raw] = await stateStore.inspect(`${accountScope(dovecot.account(user))}/checkpoints/test/INBOX`);
    writeFileSync(raw?.where ?? '', '{"cut');
    const stopped = await run(user, FILING);
    assert.match(String(stopped.rules[0]?.error ?? stopped.error), /not a mailsift record/);
    const full = await run(user, FILING, { fullScan: true });
    assert.deepEqual(scans(full), [
      ['full', '--full'],
      ['full', '--full'],
    ]);
    assert.equal(
      readdirSync(dirname(raw?.where ?? '')).filter((name) => name.includes('.damaged-')).length,
      1,
    );
    assert.deepEqual(
      scans(await run(user, FILING)).map(([scan]) => scan),
      ['incremental', 'incremental'],
    );
  });

  it('take a STORE that changed nothing (a flag the message had) for no restore: no MODSEQ came back', async () => {
    const user = dovecot.addUser();
    dovecot.seed(user, 'INBOX', [
      { raw: makeMail({ messageId: 's1', from: 'anna@example.com' }), flags: 'S' },
    ]);
    const ruleset = rulesetOf(`
rules:
  - name: keep-copy
    match: { from: anna@ }
    actions: [{ copyTo: Backup }, { addFlags: ['\\Seen'] }]
  - name: tag-news
    match: { from: news@ }
    actions: [{ addFlags: [$News] }]
`);
    await run(user, ruleset);
    assert.deepEqual(scans(await run(user, ruleset)), [
      ['full', 'acts again'],
      ['incremental', ''],
    ]);
  });

  it('scan in full past a checkpoint that is not one, keeping the damaged record aside, not overwritten', async () => {
    const user = dovecot.addUser();
    seedMixed(dovecot, user, 6, 'u');
    await run(user, FILING);
    const key = `${accountScope(dovecot.account(user))}/checkpoints/test/INBOX`;
    await stateStore.put(key, { digest: 'hand-edited', uidNext: 'seven' });
    const damaged = await run(user, FILING);
    assert.deepEqual(scans(damaged), [
      ['full', 'checkpoint unreadable'],
      ['full', 'checkpoint unreadable'],
    ]);
    const kept = (await stateStore.inspect(`${accountScope(dovecot.account(user))}/`)).filter((raw) =>
      raw.key.includes('/checkpoints/'),
    );
    assert.deepEqual(
      kept.map((raw) => raw.key),
      [key],
      'one checkpoint, written afresh',
    );
    const aside = readdirSync(dirname(kept[0]?.where ?? '')).filter((name) => name.includes('.damaged-'));
    assert.equal(aside.length, 1, 'the damaged one is kept beside it');
    assert.match(readFileSync(join(dirname(kept[0]?.where ?? ''), aside[0] ?? ''), 'utf8'), /hand-edited/);
    assert.deepEqual(
      scans(await run(user, FILING)).map(([scan]) => scan),
      ['incremental', 'incremental'],
    );
  });

  it('scan in full after a rule changed, with --full, and for a rule that acts again (copyTo)', async () => {
    const user = dovecot.addUser();
    seedMixed(dovecot, user, 3);
    await run(user, FILING);
    const edited = rulesetOf(`
rules:
  - name: invoices
    match: { from: billing@acme.test }
    actions: [{ moveTo: Finance }]
  - name: tag-news
    match: { from: news@ }
    actions: [{ addFlags: [$News] }]
`);
    assert.deepEqual(scans(await run(user, edited)), [
      ['full', 'rule changed'],
      ['full', 'rule changed'],
    ]);
    assert.deepEqual(scans(await run(user, edited, { fullScan: true })), [
      ['full', '--full'],
      ['full', '--full'],
    ]);
    const copying = rulesetOf(`
rules:
  - name: copy-news
    match: { from: news@ }
    actions: [{ copyTo: Copies }]
`);
    await run(user, copying);
    const again = await run(user, copying);
    assert.deepEqual(scans(again), [['full', 'acts again']]);
    // A full scan copies again what still matches: what copyTo always did, incremental or not.
    assert.equal(again.rules[0]?.acted, 1);
  });

  it('are read by dry runs and never written by them', async () => {
    const user = dovecot.addUser();
    seedMixed(dovecot, user, 3);
    assert.deepEqual(scans(await run(user, FILING, { dryRun: true })), [
      ['full', 'first run'],
      ['full', 'first run'],
    ]);
    assert.deepEqual(scans(await run(user, FILING)), [
      ['full', 'first run'],
      ['full', 'first run'],
    ]);
    seedMixed(dovecot, user, 3, 'later');
    const dry = await run(user, FILING, { dryRun: true });
    assert.deepEqual(scans(dry), [
      ['incremental', ''],
      ['incremental', ''],
    ]);
    assert.deepEqual(
      dry.rules.map((rule) => rule.acted),
      [1, 1],
    );
    const real = await run(user, FILING);
    assert.deepEqual(
      real.rules.map((rule) => rule.acted),
      [1, 1],
    );
  });

  it('see, in a later ruleset on the same mailbox, what an earlier ruleset changed in the same run', async () => {
    const user = dovecot.addUser();
    const real = Date.now();
    dovecot.seed(user, 'INBOX', [
      { raw: makeMail({ messageId: 'x1', from: 'x@y.test' }), internalDate: new Date(real - 90 * 60_000) },
    ]);
    const tagger = rulesetOf(
      'rules:\n  - { name: age, match: { from: x@, olderThan: 1h }, actions: [{ addFlags: [$Aged] }] }\n',
      'tagger',
    );
    const mover = rulesetOf(
      'rules:\n  - { name: move, match: { keyword: $Aged }, actions: [{ moveTo: Aged }] }\n',
      'mover',
    );
    const both = (now: Date) =>
      runRulesets(
        [tagger, mover].map((ruleset) => ({ ruleset, account: dovecot.account(user) })),
        { dryRun: false, state: stateStore, now },
        () => {},
      );
    // Twice while x1 is younger than an hour: the second run finds nothing changed.
    await both(new Date(real - 60 * 60_000));
    await both(new Date(real - 60 * 60_000));
    // Now the tagger tags it; the mover's SELECT was the tagger's, from before the tag, so it must search.
    const [tagged, moved] = await both(new Date(real));
    assert.deepEqual([tagged?.rules[0]?.acted, moved?.rules[0]?.acted], [1, 1]);
    assert.deepEqual(moved?.rules[0]?.scan, 'incremental');
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'Aged'), ['x1']);
  });

  it('report a checkpoint that could not be saved, after acting: the next run looks again', async () => {
    const user = dovecot.addUser();
    seedMixed(dovecot, user, 3);
    // Writes: the lease, then the checkpoint, which fails (and so does every write after it).
    const state = new FaultyStateStore(testState(), { at: 2, when: 'before' });
    const summary = await run(
      user,
      rulesetOf(
        'rules:\n  - { name: invoices, match: { from: billing@ }, actions: [{ moveTo: Finance }] }\n',
      ),
      { state },
    );
    assert.ok(state.struck);
    assert.match(state.writes[1] ?? '', /\/checkpoints\//);
    assert.equal(summary.rules[0]?.acted, 1);
    assert.match(summary.rules[0]?.error ?? '', /checkpoint was not saved .*the next run looks again/);
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'Finance'), ['m0']);
  });

  it('scan in full, and say so, where the server has no CONDSTORE', async () => {
    const older = await startDovecot({ withoutCapabilities: ['CONDSTORE', 'QRESYNC'] });
    try {
      const user = older.addUser();
      seedMixed(older, user, 3);
      await run(user, FILING, {}, older);
      assert.deepEqual(scans(await run(user, FILING, {}, older)), [
        ['full', 'no CONDSTORE'],
        ['full', 'no CONDSTORE'],
      ]);
    } finally {
      await older.stop();
    }
  });
});
