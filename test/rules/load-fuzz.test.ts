/** The rule-file loader under fast-check: any input gives a valid ruleset or a RuleFileError, never a crash. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RuleFileError } from '../../functions/errors.ts';
import { parseRuleset } from '../../functions/rules/load.ts';

/** Bounded in count and in time, so the suite stays fast whatever the machine. */
const LIMITS = { numRuns: 1500, interruptAfterTimeLimit: 15_000 };

/** True when `text` loads, or fails with a RuleFileError whose every problem names the file. */
function loadsOrExplains(text: string): boolean {
  try {
    const ruleset = parseRuleset('rules/fuzz.yaml', text);
    return ruleset.rules.length > 0 && ruleset.name === 'fuzz';
  } catch (error) {
    if (!(error instanceof RuleFileError)) throw error;
    assert.ok(error.problems.length > 0);
    for (const problem of error.problems) assert.equal(problem.file, 'rules/fuzz.yaml');
    return true;
  }
}

const VALID = {
  account: 'ops',
  schedule: 'rate(5 minutes)',
  rules: [
    {
      name: 'file',
      match: {
        from: 'billing@',
        subject: 'invoice',
        olderThan: '30d',
        attachment: { type: 'application/pdf' },
      },
      actions: [{ addFlags: ['$Invoice'] }, { moveTo: 'Finance/Invoices' }],
      limit: 100,
    },
  ],
};

/** Every path to a value inside `value`, as lists of keys and indexes. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([key, child]) => paths(child, [...prefix, key]))];
}

function replaced(value: unknown, path: (string | number)[], replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  const copy = Array.isArray(value) ? [...value] : { ...(value as Record<string, unknown>) };
  (copy as Record<string | number, unknown>)[head] = replaced(
    (value as Record<string | number, unknown>)[head],
    rest,
    replacement,
  );
  return copy;
}

describe('parseRuleset under fuzzing', () => {
  it('turns any text into a ruleset or a RuleFileError', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 400 }), loadsOrExplains), LIMITS);
  });

  it('turns any JSON value (JSON is YAML) into a ruleset or a RuleFileError', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => loadsOrExplains(JSON.stringify(value))),
      LIMITS,
    );
  });

  it('turns a valid file with any one field replaced by anything into a ruleset or a RuleFileError', () => {
    const allPaths = paths(VALID).filter((path) => path.length > 0);
    fc.assert(
      fc.property(fc.constantFrom(...allPaths), fc.jsonValue({ maxDepth: 3 }), (path, value) =>
        loadsOrExplains(JSON.stringify(replaced(VALID, path, value))),
      ),
      LIMITS,
    );
  });
});
