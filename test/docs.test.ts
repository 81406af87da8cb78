/**
 * The documentation against the program: every `mailsift …` command and flag it shows exists in the CLI's own
 * usage, every relative link resolves (files and heading anchors), the rule reference covers the schema, and
 * no prose line runs past 160 characters.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, it } from 'node:test';
import { main } from '../functions/cli.ts';
import { ActionSchema, MatchSchema, RuleSchema } from '../functions/rules/schema.ts';

const PAGES = ['README.md', 'ARCHITECTURE.md', ...readdirSync('docs').map((name) => join('docs', name))];
const MAX_PROSE_LINE = 160;

/** The page's lines, each marked as inside a fenced code block or not. */
function linesOf(page: string): { text: string; number: number; code: boolean }[] {
  let code = false;
  return readFileSync(page, 'utf8')
    .split('\n')
    .map((text, index) => {
      const fence = /^\s*```/.test(text);
      if (fence) code = !code;
      return { text, number: index + 1, code: code || fence };
    });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(page: string): Set<string> {
  return new Set(
    linesOf(page)
      .filter((line) => !line.code && /^#{1,6} /.test(line.text))
      .map((line) => slug(line.text.replace(/^#+ /, ''))),
  );
}

async function usage(): Promise<string> {
  let text = '';
  await main(['help'], { stdout: (chunk) => (text += chunk), stderr: () => {}, env: {} });
  return text;
}

/** A page's section from `## title` to the next `## `. */
function section(page: string, title: string): string {
  const text = readFileSync(page, 'utf8');
  const start = text.indexOf(`## ${title}\n`);
  assert.ok(start >= 0, `${page} has no "## ${title}" section`);
  const end = text.indexOf('\n## ', start + 3);
  return text.slice(start, end < 0 ? undefined : end);
}

describe('the documentation', () => {
  it('shows only mailsift commands and flags that the CLI has', async () => {
    const known = await usage();
    const commands = new Set([...known.matchAll(/^ {2}mailsift (\w+)/gm)].map((match) => match[1]));
    let checked = 0;
    for (const page of PAGES) {
      for (const line of linesOf(page)) {
        for (const use of line.text.matchAll(/\bmailsift (\w+)((?: +[^\s`|]+)*)/g)) {
          if (!/^(validate|run|schema|help|auth|history|undo|apply)$/.test(use[1] ?? '')) continue;
          checked++;
          const where = `${page}:${line.number}`;
          assert.ok(commands.has(use[1]), `${where}: mailsift ${use[1]} is not a command`);
          for (const flag of (use[2] ?? '').match(/--[a-z][a-z-]*/g) ?? []) {
            assert.ok(known.includes(flag), `${where}: ${flag} is not in mailsift --help`);
          }
        }
      }
    }
    assert.ok(checked >= 10, `only ${checked} command lines found`);
  });

  it('links only to files and headings that exist', () => {
    let checked = 0;
    for (const page of PAGES) {
      for (const line of linesOf(page).filter((each) => !each.code)) {
        for (const [, target = ''] of line.text.matchAll(/\]\(([^)\s]+)\)/g)) {
          if (/^[a-z]+:/.test(target)) continue;
          checked++;
          const [file = '', anchor] = target.split('#');
          const path = file === '' ? page : normalize(join(dirname(page), file));
          assert.ok(existsSync(path), `${page}:${line.number}: ${target} does not exist`);
          if (anchor)
            assert.ok(
              anchorsOf(path).has(anchor),
              `${page}:${line.number}: no heading #${anchor} in ${path}`,
            );
        }
      }
    }
    assert.ok(checked >= 15, `only ${checked} links found`);
  });

  it(`keeps prose lines within ${MAX_PROSE_LINE} characters (tables included; code blocks aside)`, () => {
    for (const page of PAGES) {
      for (const line of linesOf(page).filter((each) => !each.code)) {
        assert.ok(
          line.text.length <= MAX_PROSE_LINE,
          `${page}:${line.number} is ${line.text.length} characters`,
        );
      }
    }
  });

  it('documents every match key, action and per-rule setting the schema accepts', () => {
    const matchKeys = section('docs/rules.md', 'Match keys');
    for (const key of Object.keys(MatchSchema.shape))
      assert.ok(matchKeys.includes(`\`${key}\``), `match key ${key}`);
    const actions = section('docs/rules.md', 'Actions');
    for (const key of Object.keys(ActionSchema.shape))
      assert.ok(actions.includes(`- \`${key}\``), `action ${key}`);
    const settings = section('docs/rules.md', 'Per-rule settings');
    for (const key of Object.keys(RuleSchema.shape).filter((k) => k !== 'match' && k !== 'actions')) {
      assert.ok(settings.includes(`| \`${key}\``), `setting ${key}`);
    }
  });

  it('keeps the README short, and gives npm test as the test command, which .ci/run calls', () => {
    const readme = readFileSync('README.md', 'utf8');
    assert.ok(readme.split('\n').length <= 200, `README.md has ${readme.split('\n').length} lines`);
    assert.match(readme, /^npm test +# lint/m);
    assert.match(readFileSync('.ci/run', 'utf8'), /^npm test$/m);
  });
});
