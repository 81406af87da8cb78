/**
 * `mailsift state check`, `repair` and `forget` on the DynamoDB state (the real SDK client against dynalite): the
 * same findings and the same set-aside records as on files (test/cli-state.test.ts runs those through the CLI).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbStateStore } from '../functions/state/dynamodb-store.ts';
import { thisProcess } from '../functions/state/machine.ts';
import { keySegment } from '../functions/state/store.ts';
import { stateReport } from '../functions/state-report.ts';
import { checkState, forgetAccount, repairState } from '../functions/state-review.ts';
import { startDynalite, type TestDynamo } from './helpers/dynalite.ts';

let dynamo: TestDynamo;
before(async () => {
  dynamo = await startDynalite();
});
after(async () => {
  await dynamo?.stop();
});

const SCOPE = 'anna@imap.example.com';
const PK = keySegment(SCOPE);
const CHECKPOINT = {
  digest: 'd',
  uidValidity: '7',
  uidNext: 20,
  highestModseq: '40',
  at: '2026-12-01T09:00:00.000Z',
  fullAt: '2026-12-01T09:00:00.000Z',
};

async function filledStore() {
  const table = await dynamo.createStateTable();
  const store = new DynamoDbStateStore(dynamo.client, table);
  await store.put(`${PK}/checkpoints/office/INBOX`, CHECKPOINT);
  await store.put(`${PK}/checkpoints/office/Lists`, { digest: 'd', uidNext: 'twenty' });
  await store.put(`${PK}/deliveries/INBOX/7/%24Posted/0`, { uids: '1:5,9', writtenAt: 1 });
  await store.put(`${PK}/oauth/refresh-token`, { token: 'never shown' });
  await store.put(`${PK}/notes`, { mine: true });
  // Written by hand: no JSON in it.
  await dynamo.client.send(
    new PutItemCommand({
      TableName: table,
      Item: { pk: { S: PK }, sk: { S: 'copies/c1' }, version: { N: '1' }, value: { S: '{"cut' } },
    }),
  );
  return store;
}

describe('state check and repair on DynamoDB', () => {
  it('finds the damaged and the foreign records, sets the damaged aside, and then finds none', async () => {
    const store = await filledStore();
    const check = await checkState(store, SCOPE);
    assert.deepEqual(
      check.damaged.map((finding) => [finding.kind, finding.key.slice(PK.length)]),
      [
        ['checkpoint', '/checkpoints/office/Lists'],
        ['copy journal', '/copies/c1'],
      ].sort((a, b) => String(a[1]).localeCompare(String(b[1]))),
    );
    assert.deepEqual(
      check.foreign.map((finding) => finding.key),
      [`${PK}/notes`],
    );
    const repaired = await repairState(store, SCOPE, new Date('2026-12-03T10:00:00Z'));
    assert.deepEqual(
      repaired.map((finding) => [finding.aside.replace(/^\S+ /, ''), finding.nextRun]),
      [
        [
          `${PK}/damaged/damaged-2026-12-03T10-00-00-000Z/checkpoints/office/Lists`,
          'the next run of ruleset office scans Lists in full',
        ],
        [
          `${PK}/damaged/damaged-2026-12-03T10-00-00-000Z/copies/c1`,
          'copies it recorded may be made again if the run that wrote it was cut before marking its messages',
        ],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    const after = await checkState(store, SCOPE);
    assert.deepEqual(after.damaged, []);
    assert.equal(after.records, check.records, 'set aside, not deleted');
  });

  it('repairs past a damaged lease, and not while a live run holds the account', async () => {
    const store = await filledStore();
    const hour = Date.now() + 3_600_000;
    // No token: damaged, however far off its expiry says; it holds nothing.
    await store.put(`${PK}/lease`, { expiresAt: hour, host: 'elsewhere', pid: 1 });
    const repaired = await repairState(store, SCOPE, new Date());
    assert.ok(repaired.some((finding) => finding.kind === 'lease'));
    await store.put(`${PK}/notes/x`, 'damaged? no: foreign');
    await store.put(`${PK}/copies/c2`, 7);
    // A run in another process of this machine, alive (started 0: unknown start time, so the pid decides).
    const sleeper = spawn('sleep', ['30']);
    try {
      const live = {
        ...thisProcess(),
        pid: sleeper.pid,
        started: 0,
        token: 't',
        expiresAt: hour,
        rulesets: ['x'],
      };
      await store.put(`${PK}/lease`, live);
      await assert.rejects(
        repairState(store, SCOPE, new Date()),
        /a run of anna@imap\.example\.com holds its lease/,
      );
      assert.equal((await store.get(`${PK}/copies/c2`))?.value, 7, 'nothing set aside under a live run');
    } finally {
      sleeper.kill();
    }
  });

  it('shows the checkpoint, the deliveries and that a token is kept, never the token', async () => {
    const store = await filledStore();
    const [report] = await stateReport(store, SCOPE, [], Date.now());
    assert.equal(report?.account, SCOPE);
    assert.deepEqual(
      report?.checkpoints.map((each) => [each.mailbox, each.uidNext, each.highestModseq, each.rules]),
      [['INBOX', 20, '40', 'unknown']],
    );
    assert.deepEqual(report?.deliveries, [{ mailbox: 'INBOX', keyword: '$Posted', messages: 6 }]);
    assert.equal(report?.token, 'refresh token stored');
    assert.doesNotMatch(JSON.stringify(report), /never shown/);
  });

  it('forgets one mailbox of an account, or all of it, keeping every record aside', async () => {
    const store = await filledStore();
    const now = new Date('2026-12-03T11:00:00Z');
    const inbox = await forgetAccount(store, SCOPE, { mailbox: 'INBOX', dryRun: false, now });
    assert.deepEqual(inbox.map((finding) => finding.kind).sort(), ['checkpoint', 'deliveries']);
    assert.equal(await store.get(`${PK}/checkpoints/office/INBOX`), undefined);
    assert.ok(await store.get(`${PK}/oauth/refresh-token`), 'the rest of the account is kept');
    const dry = await forgetAccount(store, SCOPE, { dryRun: true, now });
    assert.ok(await store.get(`${PK}/oauth/refresh-token`), 'a dry run sets nothing aside');
    await forgetAccount(store, SCOPE, { dryRun: false, now });
    const left = await checkState(store, SCOPE);
    assert.deepEqual(
      (await store.inspect(`${PK}/`)).filter((raw) => !raw.key.startsWith(`${PK}/damaged/`)),
      [],
      `everything set aside (${dry.length} records listed by the dry run)`,
    );
    assert.equal(left.damaged.length, 0);
  });
});
