import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  chunkUidSet,
  expandUidSet,
  expandUidSetAtMost,
  MAX_UID_SET_LENGTH,
  toRanges,
} from '../../functions/imap/uid-set.ts';

describe('toRanges', () => {
  it('compresses consecutive UIDs into ranges, sorted and de-duplicated', () => {
    assert.deepEqual(toRanges([9, 1, 2, 3, 7, 10, 3]), ['1:3', '7', '9:10']);
  });

  it('returns nothing for no UIDs', () => {
    assert.deepEqual(toRanges([]), []);
  });
});

describe('chunkUidSet', () => {
  it('keeps 5,000 consecutive UIDs in one short set', () => {
    const uids = Array.from({ length: 5000 }, (_, i) => i + 1);
    assert.deepEqual(chunkUidSet(uids), ['1:5000']);
  });

  it('splits 20,000 scattered UIDs into sets no longer than the limit that cover exactly the input', () => {
    const uids = Array.from({ length: 20_000 }, (_, i) => 100_000 + i * 2);
    const chunks = chunkUidSet(uids);
    assert.ok(chunks.length > 1);
    for (const chunk of chunks)
      assert.ok(chunk.length <= MAX_UID_SET_LENGTH, `chunk of ${chunk.length} chars`);
    assert.deepEqual(chunks.flatMap(expandUidSet), uids);
  });
});

describe('expandUidSetAtMost', () => {
  it('expands a set within the bound, and refuses one beyond it without allocating it', () => {
    assert.deepEqual(expandUidSetAtMost('1:3,7', 4), [1, 2, 3, 7]);
    assert.equal(expandUidSetAtMost('1:3,7', 3), undefined);
    assert.equal(expandUidSetAtMost('1:4294967295', 50_000), undefined);
  });
});
