/** The match key registry: one file per key, the schema built from it, the docs naming each, no import circle. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MATCH_KEYS } from '../../functions/match/keys/index.ts';
import { MatchSchema } from '../../functions/rules/schema.ts';
import { LEAF_ARBITRARIES } from '../helpers/random-mail.ts';

const KEYS_DIR = 'functions/match/keys';
const camel = (file: string) =>
  file.replace(/\.ts$/, '').replace(/-(\w)/g, (_, letter: string) => letter.toUpperCase());

/** Files reachable from `start` through relative imports. */
function reachable(start: string): Set<string> {
  const seen = new Set<string>([start]);
  const queue = [start];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    const text = readFileSync(file, 'utf8');
    for (const [, target] of text.matchAll(/^(?:import|export)[^;]*?from '(\.[^']+)'/gms)) {
      const path = normalize(join(dirname(file), target as string));
      if (!seen.has(path) && existsSync(path)) {
        seen.add(path);
        queue.push(path);
      }
    }
  }
  return seen;
}

/** A value of the key, as the differential test draws them. */
function sampleOf(key: string): unknown {
  const arbitrary = LEAF_ARBITRARIES[key];
  return arbitrary ? fc.sample(arbitrary, { numRuns: 1, seed: 1 })[0] : 'x';
}

describe('the match key registry', () => {
  it('has one file per key, named after it, and lists every file', () => {
    const files = readdirSync(KEYS_DIR).filter((file) => file !== 'index.ts');
    assert.deepEqual(files.map(camel).sort(), MATCH_KEYS.map((definition) => definition.key).sort());
    for (const file of files) {
      assert.match(readFileSync(join(KEYS_DIR, file), 'utf8'), new RegExp(`key: '${camel(file)}'`), file);
    }
  });

  it('is what the rules schema accepts, with any and not', () => {
    const keys = MATCH_KEYS.map((definition) => definition.key);
    assert.deepEqual(Object.keys(MatchSchema.shape).sort(), [...keys, 'any', 'not'].sort());
  });

  it('is documented key by key in docs/rules.md', () => {
    const docs = readFileSync('docs/rules.md', 'utf8');
    for (const { key } of MATCH_KEYS) assert.ok(docs.includes(`\`${key}\``), key);
  });

  it('decides every key somewhere: a SEARCH form, or a client check wherever the client decides it', () => {
    const now = new Date('2026-12-20T09:00:00Z');
    for (const definition of MATCH_KEYS) {
      for (const hasWithin of [true, false]) {
        const context = { now, hasWithin, hasGmailSearch: true };
        if (!definition.clientSide(context)) assert.ok(definition.hasSearch, definition.key);
        else assert.ok(definition.check(sampleOf(definition.key), context), definition.key);
      }
    }
  });

  it('breaks the old circle: neither registry imports the schema that is built from it', () => {
    for (const registry of ['functions/match/keys/index.ts', 'functions/engine/actions/index.ts']) {
      assert.ok(!reachable(registry).has('functions/rules/schema.ts'), registry);
    }
  });
});
