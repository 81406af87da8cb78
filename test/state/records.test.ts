/** The copy journal, delivery and pending-expunge records: their decisions over the stored data, in memory. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CopyJournal, isUsedUp, matchCopies } from '../../functions/state/copy-journal.ts';
import { DeliveryLog } from '../../functions/state/deliveries.ts';
import { MemoryStateStore } from '../../functions/state/memory-store.ts';
import { PendingExpunges } from '../../functions/state/pending-expunges.ts';
import type { PutOptions } from '../../functions/state/store.ts';

const SOURCE = { path: 'INBOX', uidValidity: 7n, uidNext: 20, highestModseq: 100n };
const SCOPE = { ruleset: 'rs', rule: 'keep', source: SOURCE, target: 'Archive' };

describe('the copy journal', () => {
  it('gives a later run the entries of an earlier one that name its UIDs, never its own', async () => {
    const store = new MemoryStateStore();
    const earlier = new CopyJournal(store, 'acct', 'run-1');
    await earlier.record(SCOPE, [1, 2, 3], { uidNext: 10, uidValidity: 5n });
    const later = new CopyJournal(store, 'acct', 'run-2');
    const [entry] = await later.earlierEntries(SCOPE, [3, 4]);
    assert.deepEqual([entry?.uids, entry?.targetUidNext, entry?.targetValidity], [[1, 2, 3], 10, '5']);
    assert.deepEqual(await later.earlierEntries(SCOPE, [4, 5]), [], 'no entry names 4 or 5');
    assert.deepEqual(await later.earlierEntries({ ...SCOPE, rule: 'other' }, [3]), [], 'another rule');
    assert.deepEqual(await new CopyJournal(store, 'acct', 'run-1').earlierEntries(SCOPE, [3]), [], 'its own');
  });

  it('drops the entries of a source that was renumbered (another UIDVALIDITY)', async () => {
    const store = new MemoryStateStore();
    await new CopyJournal(store, 'acct', 'run-1').record(SCOPE, [1], undefined);
    const renumbered = { ...SCOPE, source: { path: 'INBOX', uidValidity: 8n } };
    assert.deepEqual(await new CopyJournal(store, 'acct', 'run-2').earlierEntries(renumbered, [1]), []);
    assert.deepEqual(await store.list('acct/copies/'), []);
  });

  it('deletes an entry once its rule ended with none of its messages waiting or failed', async () => {
    const store = new MemoryStateStore();
    const journal = new CopyJournal(store, 'acct', 'run-1');
    const end = { ruleset: 'rs', rule: 'keep', source: SOURCE, error: false };
    await journal.record(SCOPE, [1, 2], undefined);
    await journal.endRule({ ...end, matched: [1, 2, 3], acted: [1, 2], failedUids: new Set([2]) });
    assert.equal((await store.list('acct/copies/')).length, 1, 'uid 2 failed: kept');
    const next = new CopyJournal(store, 'acct', 'run-2');
    await next.earlierEntries(SCOPE, [2]);
    await next.endRule({ ...end, matched: [1, 2, 3], acted: [1, 2], failedUids: new Set() });
    assert.deepEqual(await store.list('acct/copies/'), [], 'used up by the later run');
  });

  it('keeps the entries when the rule failed or the connection was lost', async () => {
    const store = new MemoryStateStore();
    const journal = new CopyJournal(store, 'acct', 'run-1');
    await journal.record(SCOPE, [1], undefined);
    await journal.endRule(undefined);
    await journal.record(SCOPE, [2], undefined);
    await journal.endRule({
      ruleset: 'rs',
      rule: 'keep',
      source: SOURCE,
      matched: [2],
      acted: [2],
      error: true,
      failedUids: new Set(),
    });
    assert.equal((await store.list('acct/copies/')).length, 2);
  });

  it('isUsedUp: a message matched but left for later by limit keeps the entry', () => {
    const usedUp = isUsedUp({
      ruleset: 'rs',
      rule: 'keep',
      source: SOURCE,
      matched: [1, 2, 3],
      acted: [1, 2],
      error: false,
      failedUids: new Set(),
    });
    assert.equal(usedUp({ uids: [1, 2] }), true);
    assert.equal(usedUp({ uids: [2, 3] }), false);
  });

  it('matchCopies: each copy stands for one original; twins need two copies', () => {
    const identity = (message: { uid: number; id: string }) => message.id;
    const claimed = new Set<number>();
    const originals = [
      { uid: 1, id: 'twin' },
      { uid: 2, id: 'twin' },
      { uid: 3, id: 'solo' },
    ];
    const copied = matchCopies(
      originals,
      [
        { uid: 11, id: 'twin' },
        { uid: 12, id: 'solo' },
      ],
      identity,
      claimed,
    );
    assert.deepEqual([...copied].sort(), [1, 3]);
    assert.deepEqual([...claimed].sort(), [11, 12]);
    assert.deepEqual(
      [...matchCopies(originals, [{ uid: 11, id: 'twin' }], identity, claimed)],
      [],
      'claimed already',
    );
  });
});

/** A memory store that counts its writes. */
class CountingStore extends MemoryStateStore {
  writes = 0;
  override async put(key: string, value: unknown, options?: PutOptions): Promise<number> {
    this.writes++;
    return await super.put(key, value, options);
  }
}

describe('the delivery log', () => {
  const where = {
    mailbox: 'INBOX',
    uidValidity: 7n,
    keyword: '$mailsift-fwd-fwd',
    uidNext: 20,
    highestModseq: 100n,
  };

  it('remembers what was delivered across runs, per mailbox, UIDVALIDITY and keyword', async () => {
    const store = new MemoryStateStore();
    const log = new DeliveryLog(store, 'acct', where);
    await log.add(3);
    await log.add(1);
    assert.deepEqual(
      [...(await new DeliveryLog(store, 'acct', where).load({ refresh: false }))].sort(),
      [1, 3],
    );
    for (const other of [
      { ...where, uidValidity: 8n },
      { ...where, mailbox: 'Other' },
      { ...where, keyword: '$x' },
    ]) {
      assert.equal((await new DeliveryLog(store, 'acct', other).load({ refresh: false })).size, 0);
    }
  });

  it('forgets, once the mailbox went back, every delivered UID of the record, says so once', async () => {
    const store = new MemoryStateStore();
    const log = new DeliveryLog(store, 'acct', where);
    for (const uid of [3, 12, 19]) await log.add(uid);
    const warnings: string[] = [];
    // Restored to UIDNEXT 10, then new mail took UIDs 10 to 14: UID 12 is another message now.
    const restored = { ...where, uidNext: 15, highestModseq: 60n };
    const after = new DeliveryLog(store, 'acct', restored, { warn: (text) => warnings.push(text) });
    assert.deepEqual([...(await after.load({ refresh: true }))], []);
    assert.match(
      warnings.join('\n'),
      /went back \(HIGHESTMODSEQ 60 < 100\).*its 3 delivered UID\(s\) are forgotten/,
    );
    // A real run's load wrote it again, empty, at today's watermark: the next run says nothing.
    const quiet: string[] = [];
    await new DeliveryLog(store, 'acct', restored, { warn: (text) => quiet.push(text) }).load({
      refresh: false,
    });
    assert.deepEqual(quiet, []);
    // The new mail at UID 12 is posted, and written down anew.
    await after.add(12);
    assert.deepEqual([...(await new DeliveryLog(store, 'acct', restored).load({ refresh: false }))], [12]);
  });

  it('deliveries finishing together share writes, and each is durable when its add resolves', async () => {
    const store = new CountingStore();
    const log = new DeliveryLog(store, 'acct', where);
    await log.load({ refresh: false });
    await Promise.all([1, 2, 3, 4, 5, 6].map((uid) => log.add(uid)));
    assert.ok(store.writes <= 2, `${store.writes} writes`);
    assert.equal((await new DeliveryLog(store, 'acct', where).load({ refresh: false })).size, 6);
  });

  it('adds made before anything was read are all durable when they resolve (one shared read)', async () => {
    const store = new MemoryStateStore();
    const log = new DeliveryLog(store, 'acct', where);
    await Promise.all([log.add(1), log.add(2), log.add(3)]);
    assert.deepEqual(
      [...(await new DeliveryLog(store, 'acct', where).load({ refresh: false }))].sort(),
      [1, 2, 3],
    );
  });

  it('keeps one record per block of 10,000 UIDs, so that none outgrows a DynamoDB item', async () => {
    const store = new MemoryStateStore();
    const log = new DeliveryLog(store, 'acct', where);
    for (const uid of [5, 9_999, 10_000, 123_456]) await log.add(uid);
    assert.equal((await store.list('acct/deliveries/')).length, 3);
    assert.deepEqual(
      [...(await new DeliveryLog(store, 'acct', where).load({ refresh: false }))].sort((a, b) => a - b),
      [5, 9_999, 10_000, 123_456],
    );
  });

  it('a real run keeps an old record from expiring by writing it again', async () => {
    let now = 1_700_000_000_000;
    const store = new CountingStore({ now: () => now });
    await new DeliveryLog(store, 'acct', where, { now: () => now }).add(1);
    now += 31 * 24 * 60 * 60_000;
    await new DeliveryLog(store, 'acct', where, { now: () => now }).load({ refresh: false });
    assert.equal(store.writes, 1, 'a dry run writes nothing');
    await new DeliveryLog(store, 'acct', where, { now: () => now }).load({ refresh: true });
    assert.equal(store.writes, 2);
  });
});

describe('pending expunges', () => {
  it('are written before and deleted after, per mailbox and UIDVALIDITY', async () => {
    const store = new MemoryStateStore();
    const pending = new PendingExpunges(store, 'acct', SOURCE);
    assert.deepEqual((await pending.pending()).uids, []);
    await pending.record([5, 6, 7, 9]);
    assert.deepEqual((await new PendingExpunges(store, 'acct', SOURCE).pending()).uids, [5, 6, 7, 9]);
    const renumbered = new PendingExpunges(store, 'acct', { ...SOURCE, uidValidity: 8n });
    assert.deepEqual((await renumbered.pending()).uids, []);
    await pending.done();
    assert.deepEqual((await pending.pending()).uids, []);
  });

  it('are not believed once the mailbox went back below where it stood when they were written', async () => {
    const store = new MemoryStateStore();
    await new PendingExpunges(store, 'acct', SOURCE).record([5, 6]);
    const further = await new PendingExpunges(store, 'acct', {
      ...SOURCE,
      uidNext: 30,
      highestModseq: 150n,
    }).pending();
    assert.deepEqual(further, { uids: [5, 6], wentBack: [] });
    for (const [restored, reason] of [
      [{ highestModseq: 40n }, 'HIGHESTMODSEQ 40 < 100'],
      [{ uidNext: 6 }, 'UIDNEXT 6 < 20'],
    ] as const) {
      const back = await new PendingExpunges(store, 'acct', { ...SOURCE, ...restored }).pending();
      assert.deepEqual(back.uids, []);
      assert.deepEqual(
        back.wentBack.map((each) => each.reason),
        [reason],
      );
    }
  });
});
