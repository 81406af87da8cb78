import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MATCHES_NOTHING, withinBounds } from '../../functions/imap/within-bounds.ts';

const NOW = Date.parse('2026-12-03T12:00:00Z');
const ago = (ms: number) => new Date(NOW - ms);

describe('withinBounds', () => {
  it('keeps bounds a second or more in the past as they are', () => {
    const query = { before: ago(120_000), since: ago(3_600_000), from: 'x@' };
    assert.deepEqual(withinBounds(query, NOW), query);
  });

  it('leaves out a before bound that reaches now or the future (OLDER 0 is not an RFC 5032 interval)', () => {
    assert.deepEqual(withinBounds({ before: ago(-180_000), from: 'x@' }, NOW), { from: 'x@' });
    assert.deepEqual(withinBounds({ before: ago(400) }, NOW), {});
  });

  it('finds that a since bound at now or later matches nothing', () => {
    assert.equal(withinBounds({ since: ago(-60_000), from: 'x@' }, NOW), MATCHES_NOTHING);
  });

  it('drops an OR branch that matches nothing, and the whole OR where one branch matches everything', () => {
    const window = { since: ago(600_000), before: ago(-180_000) };
    assert.deepEqual(withinBounds({ or: [{ uid: '5:*' }, { modseq: 8n }, window] }, NOW), {
      or: [{ uid: '5:*' }, { modseq: 8n }, { since: window.since }],
    });
    // The one branch left is merged into its list: imapflow would send a one-branch OR ungrouped.
    assert.deepEqual(withinBounds({ or: [{ uid: '5:*' }, { since: ago(-1) }] }, NOW), { uid: '5:*' });
    assert.deepEqual(
      withinBounds({ not: { or: [{ since: ago(-1) }, { subject: 'a', larger: 100 }] } }, NOW),
      { not: { subject: 'a', larger: 100 } },
    );
    assert.equal(withinBounds({ or: [{ since: ago(-1) }, { since: ago(-2) }] }, NOW), MATCHES_NOTHING);
    assert.deepEqual(withinBounds({ from: 'x@', or: [{ uid: '5:*' }, { before: ago(-1) }] }, NOW), {
      from: 'x@',
    });
  });

  it('turns NOT of nothing into no condition, and NOT of everything into nothing', () => {
    assert.deepEqual(withinBounds({ from: 'x@', not: { since: ago(-1) } }, NOW), { from: 'x@' });
    assert.equal(withinBounds({ from: 'x@', not: { before: ago(-1) } }, NOW), MATCHES_NOTHING);
  });
});
