import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStateStore } from '../../functions/state/memory-store.ts';
import { Ticks } from '../../functions/state/ticks.ts';

describe('Ticks', () => {
  it('covers the ticks scheduled up to the start of the last finished run, per ruleset and account', async () => {
    const store = new MemoryStateStore();
    const ticks = new Ticks(store, 'invoices', 'acme');
    assert.equal(await ticks.covers('2026-12-01T10:00:00Z'), false, 'nothing finished yet');
    await ticks.finished(new Date('2026-12-01T10:07:30Z'));
    assert.equal(await ticks.covers('2026-12-01T10:00:00Z'), true);
    assert.equal(await ticks.covers('2026-12-01T10:07:30Z'), true);
    assert.equal(await ticks.covers('2026-12-01T10:15:00Z'), false);
    assert.equal(await new Ticks(store, 'invoices', 'globex').covers('2026-12-01T10:00:00Z'), false);
    assert.equal(await new Ticks(store, 'alerts', 'acme').covers('2026-12-01T10:00:00Z'), false);
    const [record] = await store.list('ticks%3Aacme/');
    assert.ok(record?.expiresAt, 'forgotten when no run renews it');
  });
});
