/** Match key values that would compile to no SEARCH term, refused by the schema before they can widen a rule. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RuleFileError } from '../../functions/errors.ts';
import { rulesetOf } from '../helpers/rulesets.ts';

const rule = (match: string) =>
  rulesetOf(`rules:\n  - { name: r, match: ${match}, actions: [{ delete: trash }] }\n`);

describe('match key values imapflow would drop', () => {
  for (const [match, expected] of [
    ['{ smaller: 0 }', /match\.smaller: expected a size of at least 1 byte/],
    ['{ not: { larger: 0 } }', /match\.not\.larger: expected a size of at least 1 byte/],
    ['{ header: {} }', /match\.header: expected at least one header name/],
    [
      '{ any: [{ headerMatches: {} }, { seen: true }] }',
      /match\.any\[0\]\.headerMatches: expected at least one header name/,
    ],
  ] as const) {
    it(`refuses ${match}: a delete rule must not select every message`, () => {
      assert.throws(
        () => rule(match),
        (error: RuleFileError) => {
          assert.ok(error instanceof RuleFileError);
          assert.match(error.message, expected);
          return true;
        },
      );
    });
  }

  it('still takes a size of one byte', () => {
    assert.equal(rule('{ smaller: 1 }').rules[0]?.match.smaller, 1);
  });
});
