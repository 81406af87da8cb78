import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FetchMessageObject } from '../../functions/imap/session.ts';
import { compileSearch } from '../../functions/match/compile-search.ts';

const now = new Date('2026-06-15T12:00:00.000Z');
const withWithin = { now, hasWithin: true };
const withoutWithin = { now, hasWithin: false };

function message(fields: Partial<FetchMessageObject>): FetchMessageObject {
  return { seq: 1, uid: 1, ...fields } as FetchMessageObject;
}

describe('compileSearch', () => {
  it('turns server-side keys into one SEARCH with no client check', () => {
    const compiled = compileSearch(
      {
        from: 'billing@',
        subject: 'invoice',
        seen: false,
        larger: '500KB',
        notKeyword: '$Done',
        header: { 'List-Id': '' },
      },
      withWithin,
    );
    assert.deepEqual(compiled.search, {
      from: 'billing@',
      subject: 'invoice',
      header: { 'List-Id': '' },
      seen: false,
      unKeyword: '$Done',
      larger: 512_000,
      deleted: false,
    });
    assert.equal(compiled.check, undefined);
    assert.equal(compiled.fetch, undefined);
  });

  it('turns olderThan into an exact date bound when WITHIN is offered', () => {
    const compiled = compileSearch({ olderThan: '90m' }, withWithin);
    assert.deepEqual(compiled.search, { before: new Date('2026-06-15T10:30:00.000Z'), deleted: false });
    assert.equal(compiled.check, undefined);
  });

  it('checks olderThan against INTERNALDATE on the client when WITHIN is missing', () => {
    const compiled = compileSearch({ olderThan: '90m' }, withoutWithin);
    assert.deepEqual(compiled.search, { before: new Date('2026-06-15T10:30:00.000Z'), deleted: false });
    assert.deepEqual(compiled.fetch, { uid: true, internalDate: true });
    const check = compiled.check;
    assert.ok(check);
    assert.equal(check(message({ internalDate: new Date('2026-06-15T10:29:00Z') }), []), true);
    assert.equal(check(message({ internalDate: new Date('2026-06-15T10:31:00Z') }), []), false);
  });

  it('compiles any and not of server keys to OR and NOT', () => {
    const compiled = compileSearch(
      { any: [{ from: 'a@' }, { from: 'b@' }], not: { flagged: true } },
      withWithin,
    );
    assert.deepEqual(compiled.search, {
      or: [{ from: 'a@' }, { from: 'b@' }],
      not: { flagged: true },
      deleted: false,
    });
  });

  it('skips messages marked \\Deleted, and otherwise searches everything when only client-side keys are given, and fetches only what they need', () => {
    const compiled = compileSearch(
      { subjectMatches: '^\\[alert\\]', attachment: { type: 'application/pdf' } },
      withWithin,
    );
    assert.deepEqual(compiled.search, { deleted: false });
    assert.deepEqual(compiled.fetch, { uid: true, envelope: true, bodyStructure: true });
  });

  it('fetches only the headers that headerMatches names', () => {
    const compiled = compileSearch({ headerMatches: { 'X-Priority': '^1' } }, withWithin);
    assert.deepEqual(compiled.fetch, { uid: true, headers: ['x-priority'] });
    assert.equal(
      compiled.check?.(message({ headers: Buffer.from('X-Priority: 1 (Highest)\r\n') }), []),
      true,
    );
    assert.equal(compiled.check?.(message({ headers: Buffer.from('X-Priority: 3\r\n') }), []), false);
  });

  it('evaluates a client key under not on the client, never as a narrowing SEARCH', () => {
    const compiled = compileSearch({ from: 'shop@', not: { subjectMatches: 'receipt' } }, withWithin);
    assert.deepEqual(compiled.search, { from: 'shop@', deleted: false });
    const check = compiled.check;
    assert.ok(check);
    assert.equal(check(message({ envelope: { subject: 'Your Receipt' } }), []), false);
    assert.equal(check(message({ envelope: { subject: 'Your order' } }), []), true);
  });

  it('runs one sub-search for a server-only branch of an any that also has a client branch', () => {
    const compiled = compileSearch({ any: [{ from: 'boss@' }, { subjectMatches: 'urgent' }] }, withWithin);
    assert.deepEqual(compiled.search, { deleted: false });
    assert.deepEqual(compiled.subSearches, [{ from: 'boss@' }]);
    const check = compiled.check;
    assert.ok(check);
    const fromBoss = new Set([7]);
    assert.equal(check(message({ uid: 7, envelope: { subject: 'hi' } }), [fromBoss]), true);
    assert.equal(check(message({ uid: 8, envelope: { subject: 'URGENT: x' } }), [fromBoss]), true);
    assert.equal(check(message({ uid: 9, envelope: { subject: 'hi' } }), [fromBoss]), false);
  });

  it('matches attachments by MIME type wildcard and file name pattern from BODYSTRUCTURE', () => {
    const structure = {
      type: 'multipart/mixed',
      childNodes: [
        { type: 'text/plain', part: '1' },
        {
          type: 'image/png',
          part: '2',
          disposition: 'attachment',
          dispositionParameters: { filename: 'Chart.PNG' },
        },
      ],
    };
    const byType = compileSearch({ attachment: { type: 'image/*' } }, withWithin).check;
    const byName = compileSearch({ attachment: { filename: '*.png' } }, withWithin).check;
    const wrongType = compileSearch({ attachment: { type: 'application/pdf' } }, withWithin).check;
    const m = message({ bodyStructure: structure as FetchMessageObject['bodyStructure'] });
    assert.equal(byType?.(m, []), true);
    assert.equal(byName?.(m, []), true);
    assert.equal(wrongType?.(m, []), false);
  });

  it('decides a NOT of a NOT beside olderThan on the client when the SEARCH cannot hold it, without WITHIN', () => {
    const compiled = compileSearch(
      { olderThan: '3d', not: { not: { before: '2026-06-10', flagged: true } } },
      withoutWithin,
    );
    const check = compiled.check;
    assert.ok(check);
    assert.deepEqual(compiled.subSearches, [{ not: { before: '2026-06-10T00:00:00.000Z', flagged: true } }]);
    const received = message({ uid: 1, internalDate: new Date('2026-06-11T00:00:00Z') });
    // The sub-search finds the unflagged message (NOT (BEFORE … FLAGGED)): the NOT of it leaves it out.
    assert.equal(check(received, [new Set([1])]), false, 'the NOT of a NOT is not lost');
    assert.equal(check(received, [new Set()]), true);
  });
});
