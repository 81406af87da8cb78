import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ActionSchema, MatchSchema, RuleSchema } from '../functions/rules/schema.ts';

const readme = readFileSync('README.md', 'utf8');

function documented(section: string): string {
  const start = readme.indexOf(`### ${section}`);
  assert.ok(start >= 0, `README has no "### ${section}" section`);
  const end = readme.indexOf('\n## ', start);
  return readme.slice(start, end < 0 ? undefined : end);
}

describe('README rule reference', () => {
  it('documents every match key the schema accepts', () => {
    const text = documented('Match keys');
    for (const key of Object.keys(MatchSchema.shape))
      assert.ok(text.includes(`\`${key}\``), `match key ${key}`);
  });

  it('documents every action and per-rule setting', () => {
    const actions = documented('Actions');
    for (const key of Object.keys(ActionSchema.shape))
      assert.ok(actions.includes(`| \`${key}\``), `action ${key}`);
    const settings = documented('Per-rule settings');
    for (const key of Object.keys(RuleSchema.shape).filter((k) => k !== 'match' && k !== 'actions')) {
      assert.ok(settings.includes(`| \`${key}\``), `setting ${key}`);
    }
  });

  it('gives npm test as the test command, which .ci/run calls', () => {
    assert.match(readme, /^npm test +# lint/m);
    assert.match(readFileSync('.ci/run', 'utf8'), /^npm test$/m);
  });
});
