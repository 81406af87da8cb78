/**
 * The StateStore contract, the same cases against every backend: memory, files in a private directory, and
 * DynamoDB (the real SDK client against dynalite on 127.0.0.1).
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbStateStore } from '../../functions/state/dynamodb-store.ts';
import { UnsafeStateError } from '../../functions/state/file-permissions.ts';
import { FileStateStore } from '../../functions/state/file-store.ts';
import { isInspectable } from '../../functions/state/inspect.ts';
import { MemoryStateStore } from '../../functions/state/memory-store.ts';
import { StateConflictError, type StateStore } from '../../functions/state/store.ts';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.ts';

let dynamo: TestDynamo;
before(async () => {
  dynamo = await startDynalite();
});
after(async () => {
  await dynamo?.stop();
});

/** A clock the tests move by hand: expiry is decided on it. */
function clock() {
  let now = 1_700_000_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const BACKENDS: { name: string; make: (now: () => number) => Promise<StateStore> }[] = [
  { name: 'memory', make: async (now) => new MemoryStateStore({ now }) },
  {
    name: 'file',
    make: async (now) => new FileStateStore(mkdtempSync(join(tmpdir(), 'mailsift-store-')), { now }),
  },
  {
    name: 'DynamoDB (dynalite)',
    make: async (now) => new DynamoDbStateStore(dynamo.client, await dynamo.createStateTable(), { now }),
  },
];

for (const backend of BACKENDS) {
  describe(`StateStore contract: ${backend.name}`, () => {
    it('puts, gets and deletes a record, counting versions up', async () => {
      const store = await backend.make(Date.now);
      assert.equal(await store.get('acct/a'), undefined);
      assert.equal(await store.put('acct/a', { n: 1 }), 1);
      assert.equal(await store.put('acct/a', { n: 2 }), 2);
      assert.deepEqual(await store.get('acct/a'), { key: 'acct/a', value: { n: 2 }, version: 2 });
      await store.delete('acct/a');
      assert.equal(await store.get('acct/a'), undefined);
      await store.delete('acct/a'); // absent is fine
    });

    it('compare-and-set: 0 means absent, a version means that version; else StateConflictError', async () => {
      const store = await backend.make(Date.now);
      assert.equal(await store.put('acct/lease', 'first', { expectedVersion: 0 }), 1);
      await assert.rejects(store.put('acct/lease', 'second', { expectedVersion: 0 }), StateConflictError);
      await assert.rejects(store.put('acct/lease', 'second', { expectedVersion: 2 }), StateConflictError);
      assert.equal(await store.put('acct/lease', 'second', { expectedVersion: 1 }), 2);
      await assert.rejects(store.delete('acct/lease', { expectedVersion: 1 }), StateConflictError);
      assert.equal((await store.get('acct/lease'))?.value, 'second');
      await store.delete('acct/lease', { expectedVersion: 2 });
      assert.equal(await store.get('acct/lease'), undefined);
    });

    it('of two writers expecting the same version, exactly one wins', async () => {
      const store = await backend.make(Date.now);
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => store.put('acct/race', i, { expectedVersion: 0 })),
      );
      assert.equal(results.filter((result) => result.status === 'fulfilled').length, 1);
      for (const result of results) {
        if (result.status === 'rejected')
          assert.ok(result.reason instanceof StateConflictError, String(result.reason));
      }
    });

    it('an expired record counts as absent, and a new one counts its version on from it', async () => {
      const time = clock();
      const store = await backend.make(time.now);
      await store.put('acct/x', 'old', { expiresAt: time.now() + 1000 });
      assert.equal((await store.get('acct/x'))?.expiresAt, time.now() + 1000);
      time.advance(1000);
      assert.equal(await store.get('acct/x'), undefined);
      assert.deepEqual(await store.list('acct/'), []);
      // Absent for compare-and-set too, yet not version 1 again: a reader holding version 1 cannot win.
      assert.equal(await store.put('acct/x', 'new', { expectedVersion: 0 }), 2);
      await assert.rejects(store.put('acct/x', 'late', { expectedVersion: 1 }), StateConflictError);
      // A delete by version sees expiry too: an expired record is absent, whatever its version.
      await store.put('acct/y', 'old', { expiresAt: time.now() + 1000 });
      time.advance(1000);
      await assert.rejects(store.delete('acct/y', { expectedVersion: 1 }), StateConflictError);
      await store.delete('acct/y', { expectedVersion: 0 });
    });

    it('lists by prefix, within one account only, sorted by key', async () => {
      const store = await backend.make(Date.now);
      await store.put('acct/copies/r/b', 2);
      await store.put('acct/copies/r/a', 1);
      await store.put('acct/copies/s/c', 3);
      await store.put('acct/lease', 0);
      await store.put('other/copies/r/a', 9);
      const listed = await store.list('acct/copies/');
      assert.deepEqual(
        listed.map((record) => [record.key, record.value]),
        [
          ['acct/copies/r/a', 1],
          ['acct/copies/r/b', 2],
          ['acct/copies/s/c', 3],
        ],
      );
      assert.deepEqual(
        (await store.list('acct/copies/r/')).map((record) => record.key),
        ['acct/copies/r/a', 'acct/copies/r/b'],
      );
    });

    it('inspects every account, and sets a record aside where no run lists it, kept', async () => {
      const store = await backend.make(Date.now);
      assert.ok(isInspectable(store));
      await store.put('acct/checkpoints/r/INBOX', { a: 1 });
      await store.put('acct/lease', 0, { expiresAt: Date.now() - 1 });
      await store.put('other/copies/x', 2);
      const keys = async (prefix: string) => (await store.inspect(prefix)).map((raw) => raw.key).sort();
      assert.deepEqual(await keys(''), ['acct/checkpoints/r/INBOX', 'other/copies/x'], 'expired left out');
      assert.deepEqual(await keys('other/'), ['other/copies/x']);
      const aside = await store.setAside('acct/checkpoints/r/INBOX', 'damaged-T');
      assert.match(aside, /damaged-T/);
      assert.equal(await store.get('acct/checkpoints/r/INBOX'), undefined);
      assert.deepEqual(await store.list('acct/checkpoints/'), []);
      assert.deepEqual(await keys('acct/checkpoints/'), []);
    });
  });
}

describe('FileStateStore', () => {
  it('leaves an existing directory as it is, and makes what it adds 0700 and 0600', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mailsift-existing-'));
    chmodSync(root, 0o755);
    const store = new FileStateStore(root);
    await store.put('acct/lease', 1);
    assert.equal(statSync(root).mode & 0o777, 0o755);
    assert.equal(statSync(join(root, 'acct')).mode & 0o777, 0o700);
    assert.equal(statSync(join(root, 'acct', 'lease.json')).mode & 0o777, 0o600);
  });

  it('open for reading only (a dry run): reads, refuses writes, and sweeps nothing', async () => {
    let now = 1_700_000_000_000;
    const root = mkdtempSync(join(tmpdir(), 'mailsift-read-only-'));
    await new FileStateStore(root, { now: () => now }).put('acct/old', 1, { expiresAt: now + 1 });
    await new FileStateStore(root, { now: () => now }).put('acct/live', 2);
    now += 2 * 24 * 60 * 60_000;
    const reader = new FileStateStore(root, { now: () => now, readOnly: true });
    assert.deepEqual(
      (await reader.list('acct/')).map((record) => record.key),
      ['acct/live'],
    );
    assert.ok(existsSync(join(root, 'acct', 'old.json')), 'the expired record is still there');
    await assert.rejects(reader.put('acct/x', 1), /open for reading only/);
    await assert.rejects(reader.delete('acct/live'), /open for reading only/);
  });

  it('says which file is not a record, and how to start it afresh; inspect lists it instead of stopping', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mailsift-broken-'));
    const store = new FileStateStore(root);
    await store.put('acct/lease', 1);
    await store.put('acct/journal/r1', { id: 'r1' });
    writeFileSync(join(root, 'acct', 'lease.json'), '{"truncated');
    await assert.rejects(
      store.get('acct/lease'),
      /lease\.json is not a mailsift record .*mailsift state repair/,
    );
    const found = await store.inspect('acct/');
    assert.deepEqual(
      found.map((raw) => [raw.key, raw.where, raw.unreadable !== undefined, raw.record?.value]),
      [
        ['acct/journal/r1', join(root, 'acct', 'journal', 'r1.json'), false, { id: 'r1' }],
        ['acct/lease', join(root, 'acct', 'lease.json'), true, undefined],
      ],
    );
    // A token pasted in raw: what is said of it quotes none of it.
    await store.put('acct/oauth/refresh-token', { token: 'x' });
    writeFileSync(join(root, 'acct', 'oauth', 'refresh-token.json'), '1//0gSECRETREFRESHTOKEN');
    const token = (await store.inspect('acct/oauth/')).map((raw) => raw.unreadable);
    assert.deepEqual(token, ['not JSON (at position 1)']);
    await assert.rejects(
      store.get('acct/oauth/refresh-token'),
      (error: Error) => !/SECRET|0g/.test(error.message),
    );
    const aside = await store.setAside('acct/lease', 'damaged-T');
    assert.equal(aside, join(root, 'acct', 'lease.json.damaged-T'));
    assert.equal(readFileSync(aside, 'utf8'), '{"truncated', 'kept as it was');
    assert.equal(await store.get('acct/lease'), undefined);
  });

  it('refuses a directory others can write or own, and a record others can read, unless told it is fine', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mailsift-perm-'));
    await new FileStateStore(root).put('acct/oauth/refresh-token', { token: 'x' });
    const record = join(root, 'acct', 'oauth', 'refresh-token.json');
    chmodSync(join(root, 'acct'), 0o770);
    await assert.rejects(
      new FileStateStore(root).get('acct/oauth/refresh-token'),
      (error: Error) =>
        error instanceof UnsafeStateError &&
        /acct is writable by group or others \(mode 0770\)/.test(error.message),
    );
    assert.deepEqual(
      (await new FileStateStore(root, { insecure: true }).get('acct/oauth/refresh-token'))?.value,
      { token: 'x' },
    );
    chmodSync(join(root, 'acct'), 0o700);
    chmodSync(record, 0o644);
    await assert.rejects(
      new FileStateStore(root).get('acct/oauth/refresh-token'),
      /can be read or written by group or others \(mode 0644\): .*chmod 600/,
    );
    chmodSync(record, 0o600);
    // Owned by another user (uid 8, mail): refused even with a tight mode.
    chownSync(record, 8, 8);
    await assert.rejects(
      new FileStateStore(root).get('acct/oauth/refresh-token'),
      /is owned by another user \(uid 8, not 0\)/,
    );
    chownSync(record, 0, 0);
    symlinkSync(join(root, 'acct'), join(root, 'linked'));
    await assert.rejects(
      new FileStateStore(root).get('linked/oauth/refresh-token'),
      /linked is a symbolic link/,
    );
    assert.deepEqual((await new FileStateStore(root).get('acct/oauth/refresh-token'))?.value, { token: 'x' });
  });
});

describe('DynamoDbStateStore inspect', () => {
  it('lists an item that holds no JSON instead of stopping, and sets it aside under SCOPE/damaged/', async () => {
    const table = await dynamo.createStateTable();
    const store = new DynamoDbStateStore(dynamo.client, table);
    await store.put('acct/journal/r1', { id: 'r1' });
    await dynamo.client.send(
      new PutItemCommand({
        TableName: table,
        Item: { pk: { S: 'acct' }, sk: { S: 'lease' }, version: { N: '2' }, value: { S: '{"trunc' } },
      }),
    );
    await assert.rejects(store.get('acct/lease'), /holds no JSON value/);
    const found = await store.inspect('');
    assert.deepEqual(found.map((raw) => [raw.key, raw.unreadable !== undefined]).sort(), [
      ['acct/journal/r1', false],
      ['acct/lease', true],
    ]);
    assert.equal(await store.setAside('acct/lease', 'damaged-T'), `${table} acct/damaged/damaged-T/lease`);
    assert.equal(await store.get('acct/lease'), undefined);
    const aside = await dynamo.client.send(
      new GetItemCommand({
        TableName: table,
        Key: { pk: { S: 'acct' }, sk: { S: 'damaged/damaged-T/lease' } },
      }),
    );
    assert.equal(aside.Item?.value?.S, '{"trunc', 'kept as it was');
  });
});
