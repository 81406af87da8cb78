import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RuleFileError } from '../../functions/errors.ts';
import { loadRulesets, parseRuleset } from '../../functions/rules/load.ts';
import { rulesetJsonSchema } from '../../functions/rules/schema.ts';

const HEAD = 'account: billing\nschedule: rate(15 minutes)\n';

function problemsOf(text: string): string[] {
  try {
    parseRuleset('rules/x.yaml', text);
  } catch (error) {
    assert.ok(error instanceof RuleFileError, `expected RuleFileError, got ${error}`);
    return error.message.split('\n');
  }
  assert.fail('expected the file to be rejected');
}

describe('parseRuleset', () => {
  it('accepts every match key and action, with defaults filled in', () => {
    const ruleset = parseRuleset(
      'rules/all-keys.yaml',
      `${HEAD}timezone: Europe/Berlin
rules:
  - name: everything
    mailbox: Lists
    match:
      from: a@
      to: b@
      cc: c@
      subject: s
      body: b
      text: t
      header: { List-Id: "", X-Kind: alert }
      seen: true
      flagged: false
      answered: false
      draft: false
      keyword: $A
      notKeyword: $B
      olderThan: 90m
      newerThan: 8w
      before: 2026-01-31
      since: 2025-01-01
      larger: 500KB
      smaller: 5MB
      any: [{ from: x@ }, { subjectMatches: '^y' }]
      not: { fromMatches: '/Z/' }
      subjectMatches: invoice
      fromMatches: billing
      headerMatches: { X-Priority: '^1' }
      attachment: { type: application/pdf, filename: '*.pdf' }
    actions:
      - addFlags: ['\\Seen', $Done]
      - removeFlags: ['\\Flagged']
      - copyTo: Archive
      - moveTo: Done
  - name: second
    match: { seen: true }
    actions: [{ delete: trash }]
    limit: 10
    stop: true
`,
    );
    assert.equal(ruleset.name, 'all-keys');
    assert.equal(ruleset.mailbox, 'INBOX');
    assert.equal(ruleset.rules[0]?.limit, 1000);
    assert.equal(ruleset.rules[0]?.stop, false);
    assert.equal(ruleset.rules[1]?.limit, 10);
    assert.equal(Object.keys(ruleset.rules[0]?.match ?? {}).length, 25);
  });

  it('reports every problem at once, with file, line, field path and what was expected', () => {
    const problems = problemsOf(`account: billing
schedule: rate(1 minutes)
rules:
  - name: a
    match:
      frm: x
      olderThan: 3 days
    actions:
      - moveTo: 5
      - addFlags: [bad flag]
`);
    assert.deepEqual(problems, [
      'rules/x.yaml:2: schedule: expected "minute" with a value of 1',
      'rules/x.yaml:6: rules[0].match.frm: unknown key',
      'rules/x.yaml:7: rules[0].match.olderThan: expected a duration such as 90m, 12h, 30d or 8w',
      'rules/x.yaml:9: rules[0].actions[0].moveTo: expected a mailbox name',
      'rules/x.yaml:10: rules[0].actions[1].addFlags[0]: expected a flag such as \\Seen or a keyword such as $Invoice (no spaces or ()[]{}%*"\\)',
    ]);
  });

  it('rejects an empty match at any depth, since it would select every message', () => {
    const problems = problemsOf(`${HEAD}rules:
  - name: a
    match: { any: [{ from: x }, {}] }
    actions: [{ addFlags: [$X] }]
`);
    assert.deepEqual(problems, [
      'rules/x.yaml:5: rules[0].match.any[1]: expected at least one match key (an empty match selects every message)',
    ]);
  });

  it('rejects an action after moveTo or delete', () => {
    const problems = problemsOf(`${HEAD}rules:
  - name: a
    match: { from: x }
    actions:
      - moveTo: Done
      - addFlags: [$X]
`);
    assert.deepEqual(problems, [
      'rules/x.yaml:8: rules[0].actions[1]: an action after moveTo would never run: moveTo must be the last action',
    ]);
  });

  it('rejects an action object with two keys or none', () => {
    const problems = problemsOf(`${HEAD}rules:
  - name: a
    match: { from: x }
    actions:
      - { copyTo: A, addFlags: [$X] }
`);
    assert.deepEqual(problems, [
      'rules/x.yaml:7: rules[0].actions[0]: expected exactly one action: addFlags, removeFlags, copyTo, moveTo, delete or webhook',
    ]);
  });

  it('rejects an action after a webhook that leaves nothing a later run could see (copyTo)', () => {
    assert.deepEqual(
      problemsOf(`${HEAD}rules:
  - { name: a, match: { from: x }, actions: [{ webhook: { url: 'https://h.test/x' } }, { copyTo: Archive }] }
`),
      [
        'rules/x.yaml:4: rules[0].actions[1]: copyTo after a webhook leaves no mark a later run can see, so a run cut between the two would never apply it: put copyTo before the webhook',
      ],
    );
    // Flags, a second webhook and a move are seen; so is everything before the webhook.
    const ruleset = parseRuleset(
      'rules/x.yaml',
      `${HEAD}rules:
  - { name: a, match: { from: x }, actions: [{ copyTo: A }, { webhook: { url: 'https://h.test/x' } }, { webhook: { url: 'https://h.test/y', keyword: $y } }, { addFlags: [$Z] }, { moveTo: B }] }
`,
    );
    assert.equal(ruleset.rules[0]?.actions.length, 5);
    // An action refused by the other checks is theirs to report (the fuzz test found this crash).
    assert.deepEqual(
      problemsOf(`${HEAD}rules:
  - { name: a, match: { from: x }, actions: [{ webhook: { url: 'https://h.test/x' } }, {}] }
`),
      [
        'rules/x.yaml:4: rules[0].actions[1]: expected exactly one action: addFlags, removeFlags, copyTo, moveTo, delete or webhook',
      ],
    );
  });

  it('rejects duplicate rule names, line breaks in values and bad regular expressions', () => {
    assert.deepEqual(
      problemsOf(`${HEAD}rules:
  - { name: a, match: { from: x }, actions: [{ addFlags: [$X] }] }
  - { name: a, match: { from: y }, actions: [{ addFlags: [$X] }] }
`),
      ['rules/x.yaml:5: rules[1].name: rule name "a" is used twice'],
    );
    assert.deepEqual(
      problemsOf(`${HEAD}rules:
  - { name: a, match: { subject: "x\\r\\nA1 DELETE INBOX" }, actions: [{ addFlags: [$X] }] }
`),
      ['rules/x.yaml:4: rules[0].match.subject: expected text to search for without line breaks'],
    );
    const [regexProblem] = problemsOf(`${HEAD}rules:
  - { name: a, match: { subjectMatches: "([" }, actions: [{ addFlags: [$X] }] }
`);
    assert.match(
      regexProblem ?? '',
      /^rules\/x\.yaml:4: rules\[0\]\.match\.subjectMatches: expected a valid regular expression: /,
    );
  });

  it('checks schedules and time zones', () => {
    assert.deepEqual(problemsOf('account: a\nschedule: every day\ntimezone: Mars/Base\nrules: []\n'), [
      'rules/x.yaml:2: schedule: expected rate(N minutes|hours|days) or cron(minutes hours day-of-month month day-of-week year)',
      'rules/x.yaml:3: timezone: expected an IANA time zone such as Europe/Berlin',
      'rules/x.yaml:4: rules: expected at least one rule',
    ]);
    assert.deepEqual(
      problemsOf(`account: a\nschedule: cron(0 3 * * * *)\nrules: []\n`)[0],
      'rules/x.yaml:2: schedule: expected "?" in exactly one of day-of-month and day-of-week',
    );
  });

  it('reports YAML syntax errors with their line', () => {
    assert.deepEqual(problemsOf('a: 1\na: 2\n'), ['rules/x.yaml:2: YAML syntax: Map keys must be unique']);
    assert.deepEqual(problemsOf('account: a\nrules:\n  - name: [unclosed\n'), [
      'rules/x.yaml:4: YAML syntax: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
  });
});

describe('loadRulesets', () => {
  it('loads the shipped rules/ directory', () => {
    const rulesets = loadRulesets(['rules']);
    assert.deepEqual(
      rulesets.map((ruleset) => ruleset.name),
      ['file-invoices', 'flag-alerts', 'forward-alerts', 'newsletters'],
    );
  });

  it('collects the problems of every invalid file before failing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailsift-rules-'));
    writeFileSync(join(dir, 'a.yaml'), 'account: a\nschedule: rate(5 minutes)\nrules: []\n');
    writeFileSync(join(dir, 'b.yml'), 'account: b\n');
    writeFileSync(join(dir, 'notes.txt'), 'not a rule file');
    assert.throws(
      () => loadRulesets([dir]),
      (error: unknown) => {
        assert.ok(error instanceof RuleFileError);
        assert.deepEqual(
          error.problems.map((p) => `${p.file.slice(dir.length + 1)}:${p.path}`),
          ['a.yaml:rules', 'b.yml:schedule', 'b.yml:rules'],
        );
        return true;
      },
    );
  });

  it('gives a rule file with accounts one ruleset per account, the same rules on each', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailsift-rules-'));
    writeFileSync(
      join(dir, 'fleet.yaml'),
      'accounts: [acme, globex]\nschedule: rate(15 minutes)\nrules:\n  - { name: r, match: { from: a@ }, actions: [{ addFlags: [$A] }] }\n',
    );
    const rulesets = loadRulesets([dir]);
    assert.deepEqual(
      rulesets.map((ruleset) => [ruleset.name, ruleset.account, ruleset.rules[0]?.name]),
      [
        ['fleet', 'acme', 'r'],
        ['fleet', 'globex', 'r'],
      ],
    );
    assert.ok(rulesets.every((ruleset) => !('accounts' in ruleset)));
  });

  it('wants account or accounts, not both, with no account listed twice', () => {
    const rules =
      'schedule: rate(5 minutes)\nrules:\n  - { name: r, match: { from: a@ }, actions: [{ addFlags: [$A] }] }\n';
    assert.deepEqual(problemsOf(rules), [
      'rules/x.yaml:1: account: missing: expected account (one name) or accounts (a list)',
    ]);
    assert.deepEqual(problemsOf(`account: a\naccounts: [b]\n${rules}`), [
      'rules/x.yaml:2: accounts: expected account or accounts, not both',
    ]);
    assert.deepEqual(problemsOf(`accounts: [a, b, a, "x y"]\n${rules}`), [
      'rules/x.yaml:1: accounts[3]: expected an account name of letters, digits, "-", "_" or "."',
      'rules/x.yaml:1: accounts[2]: account "a" is listed twice',
    ]);
    assert.deepEqual(problemsOf(`accounts: []\n${rules}`), [
      'rules/x.yaml:1: accounts: expected at least one account',
    ]);
  });

  it('names a file it cannot read', () => {
    assert.throws(() => loadRulesets(['rules/missing.yaml']), /rules\/missing\.yaml: cannot read: ENOENT/);
  });
});

describe('rulesetJsonSchema', () => {
  it('is committed in schema/ruleset.schema.json exactly as generated', () => {
    const committed = JSON.parse(readFileSync('schema/ruleset.schema.json', 'utf8'));
    assert.deepEqual(committed, rulesetJsonSchema());
  });

  it('describes every match key and action the zod schema accepts', () => {
    const schema = rulesetJsonSchema() as { $defs?: Record<string, unknown> };
    const text = JSON.stringify(schema);
    for (const key of [
      'subjectMatches',
      'attachment',
      'olderThan',
      'moveTo',
      'removeFlags',
      'delete',
      'stop',
      'limit',
    ]) {
      assert.ok(text.includes(`"${key}"`), `${key} missing from the JSON Schema`);
    }
    assert.equal(
      execFileSync('node', ['--import', 'tsx', 'functions/cli-entry.ts', 'schema'], {
        encoding: 'utf8',
      }).trim(),
      JSON.stringify(schema, null, 2),
    );
  });
});
