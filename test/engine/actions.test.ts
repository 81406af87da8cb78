/** The action registry is the one list of actions: the schema, the dispatcher and the IAM list come from it. */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ACTIONS, stepOf } from '../../functions/engine/actions/index.ts';
import { ActionSchema } from '../../functions/rules/schema.ts';
import { rulesetOf } from '../helpers/rulesets.ts';

describe('the action registry', () => {
  it('has exactly the action keys of the rule-file schema, each once', () => {
    const keys = ACTIONS.map((definition) => definition.key);
    assert.deepEqual(keys, Object.keys(ActionSchema.shape));
    assert.equal(new Set(keys).size, keys.length);
  });

  it('registers every action file of functions/engine/actions/', () => {
    const infrastructure = new Set(['index.ts', 'types.ts', 'define.ts']);
    const files = readdirSync('functions/engine/actions').filter((file) => !infrastructure.has(file));
    assert.equal(files.length, ACTIONS.length, files.join(', '));
  });

  it('dispatches each action of a validated rule to its definition, with its parameters', () => {
    const ruleset = rulesetOf(`rules:
  - name: all
    match: { from: a@ }
    actions: [{ addFlags: [$A] }, { removeFlags: [$B] }, { copyTo: C }, { webhook: { url: 'https://example.test/h' } }, { moveTo: D }]
`);
    const steps = (ruleset.rules[0]?.actions ?? []).map(stepOf);
    assert.deepEqual(
      steps.map((step) => step.definition.key),
      ['addFlags', 'removeFlags', 'copyTo', 'webhook', 'moveTo'],
    );
    assert.deepEqual(steps[0]?.params, ['$A']);
    assert.equal(steps[2]?.params, 'C');
  });

  it('knows which actions remove messages, may expunge, and read parameters', () => {
    const byKey = Object.fromEntries(ACTIONS.map((definition) => [definition.key, definition]));
    assert.deepEqual(
      ACTIONS.filter((definition) => definition.removesMessages).map((definition) => definition.key),
      ['moveTo', 'delete'],
    );
    assert.equal(byKey.delete?.mayExpunge('expunge', { hasMove: true }), true);
    assert.equal(byKey.delete?.mayExpunge('trash', { hasMove: true }), false);
    assert.equal(byKey.moveTo?.mayExpunge('X', { hasMove: false }), true);
    assert.deepEqual(
      byKey.webhook?.parameters({ url: { parameter: '/hooks/a' }, secret: { parameter: '/hooks/s' } }),
      ['/hooks/a', '/hooks/s'],
    );
  });
});
