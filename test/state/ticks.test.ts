import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStateStore } from '../../functions/state/memory-store.ts';
import { Ticks } from '../../functions/state/ticks.ts';

describe('Ticks', () => {
  it('covers the ticks scheduled up to the start of the last finished run, per ruleset and account', async () => {
    const store = new MemoryStateStore();
    const ticks = new Ticks(store, 'invoices', 'acme');
    assert.equal(await ticks.covers('2026-12-01T10:00:00Z', false), false, 'nothing finished yet');
    await ticks.finished(new Date('2026-12-01T10:07:30Z'));
    const covers = (at: string, redelivered = false) =>
      new Ticks(store, 'invoices', 'acme').covers(at, redelivered);
    assert.equal(await covers('2026-12-01T10:00:00Z'), true);
    assert.equal(await covers('2026-12-01T10:07:30Z'), true);
    assert.equal(await covers('2026-12-01T10:07:30Z', true), true, 'a redelivery of a covered tick too');
    assert.equal(await covers('2026-12-01T10:15:00Z'), false);
    assert.equal(await new Ticks(store, 'invoices', 'globex').covers('2026-12-01T10:00:00Z', false), false);
    assert.equal(await new Ticks(store, 'alerts', 'acme').covers('2026-12-01T10:00:00Z', false), false);
    const [record] = await store.list('ticks%3Aacme/');
    assert.ok(record?.expiresAt, 'forgotten when no run renews it');
  });

  it("after a failed run covers older ticks, but not the failed run's own retry, and keeps the finished run", async () => {
    const store = new MemoryStateStore();
    const first = new Ticks(store, 'invoices', 'acme');
    await first.covers('2026-12-01T10:00:00Z', false);
    await first.finished(new Date('2026-12-01T10:00:05Z'));
    const failing = new Ticks(store, 'invoices', 'acme');
    assert.equal(await failing.covers('2026-12-01T10:15:00Z', false), false);
    await failing.failed(new Date('2026-12-01T10:20:00Z'));
    const later = (at: string, redelivered: boolean) =>
      new Ticks(store, 'invoices', 'acme').covers(at, redelivered);
    assert.equal(await later('2026-12-01T10:15:00Z', true), false, 'its retry runs');
    assert.equal(
      await later('2026-12-01T10:18:00Z', false),
      true,
      'a tick queued before the attempt is dropped',
    );
    assert.equal(await later('2026-12-01T10:30:00Z', false), false, 'a later tick runs');
    assert.equal(await later('2026-12-01T10:00:00Z', true), true, 'the finished run still covers its ticks');
  });
});
