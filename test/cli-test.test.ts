/** `mailsift test`, `explain` and `capture`: rule tests offline, one rule explained, live messages as fixtures. */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { main } from '../functions/cli.ts';
import { matchesOffline } from '../functions/match/evaluate.ts';
import { messageFacts } from '../functions/match/message-file.ts';
import { loadRulesets } from '../functions/rules/load.ts';
import { runCli } from './helpers/cli.ts';
import { startDovecot, type TestDovecot } from './helpers/dovecot.ts';
import { makeMail } from './helpers/mail.ts';
import { otherClient } from './helpers/other-client.ts';

async function cli(args: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env: { ...process.env, MAILSIFT_ACCOUNTS: '', ...env },
  });
  return { code, stdout, stderr };
}

/** A copy of the shipped invoice rules and fixtures, with `tests` as its test file. */
function workspace(tests: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailsift-tests-'));
  cpSync('rules/file-invoices.yaml', join(dir, 'file-invoices.yaml'));
  cpSync('rules/fixtures', join(dir, 'fixtures'), { recursive: true });
  writeFileSync(join(dir, 'file-invoices.test.yaml'), tests);
  return dir;
}

describe('mailsift test', () => {
  it('passes the shipped rules on their own tests, through the bundled CLI, as a CI job runs them', async () => {
    const files = readdirSync('rules').filter((name) => name.endsWith('.test.yaml'));
    const cases = files.reduce(
      (count, name) => count + parse(readFileSync(join('rules', name), 'utf8')).cases.length,
      0,
    );
    assert.ok(files.length >= 4 && cases > 0);
    const validated = await runCli(['validate']);
    assert.equal(validated.code, 0, validated.stderr);
    assert.doesNotMatch(validated.stdout, /\.test/, 'test files are not rule files');
    const tested = await runCli(['test']);
    assert.equal(tested.code, 0, tested.stdout + tested.stderr);
    assert.match(tested.stdout, new RegExp(`^${cases} passed, 0 failed$`, 'm'));
  });

  it('reports a failing case with what was expected, what happened and the explain tree of the rule, exit 1', async () => {
    const dir = workspace(`ruleset: file-invoices
now: 2026-12-20T09:00:00Z
cases:
  - name: the question is filed
    message: fixtures/invoice-question.eml
    expect: { acts: [file-invoices] }
  - name: the invoice is filed
    message: fixtures/invoice.eml
    expect: { acts: [file-invoices], actions: ['addFlags $Invoice', 'moveTo Finance/Invoices'] }
`);
    const result = await cli(['test', dir]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /^not ok {2}.*file-invoices\.test\.yaml: the question is filed$/m);
    assert.match(result.stdout, /expected acts: +\[file-invoices\]\n +acts: +\[\]/);
    assert.match(
      result.stdout,
      /rule file-invoices: no match\n +✗ all\n +✓ from "billing@" +\("Dana Customer" <billing@customer\.example>\)/,
    );
    assert.match(result.stdout, /✗ attachment \{type: "application\/pdf"\} +\(no attachments\)/);
    assert.match(result.stdout, /^ok {2}.*: the invoice is filed$/m);
    assert.match(result.stdout, /^1 passed, 1 failed$/m);
    const json = JSON.parse((await cli(['test', dir, '--json'])).stdout);
    assert.deepEqual(
      json.cases.map((each: { name: string; ok: boolean; acts: string[] }) => [
        each.name,
        each.ok,
        each.acts,
      ]),
      [
        ['the question is filed', false, []],
        ['the invoice is filed', true, ['file-invoices']],
      ],
    );
    assert.deepEqual(json.cases[1].actions, ['addFlags $Invoice', 'moveTo Finance/Invoices']);
    assert.deepEqual([json.passed, json.failed], [1, 1]);
  });

  it('fails a case whose rule needs gmailSearch, saying it cannot be decided offline', async () => {
    const dir = workspace(
      'ruleset: gmail\ncases:\n  - { name: g, message: fixtures/invoice.eml, expect: { acts: [] } }\n',
    );
    writeFileSync(
      join(dir, 'gmail.yaml'),
      'account: a\nschedule: rate(5 minutes)\nrules:\n  - { name: g, match: { gmailSearch: has:attachment }, actions: [{ addFlags: [$G] }] }\n',
    );
    const result = await cli(['test', join(dir, 'file-invoices.test.yaml')]);
    assert.equal(result.code, 1);
    assert.match(
      result.stdout,
      /not ok .*: g\n +gmailSearch "has:attachment" is decided by Gmail's own search and cannot be evaluated offline/,
    );
  });

  it('refuses invalid test files with file, line and field path: unknown key, missing fixture, unknown rule or ruleset', async () => {
    const dir = workspace(`ruleset: file-invoices
cases:
  - name: a
    message: fixtures/missing.eml
    expect: { acts: [no-such-rule], extra: 1 }
`);
    const first = await cli(['test', dir]);
    assert.equal(first.code, 2);
    assert.match(first.stderr, /file-invoices\.test\.yaml:5: cases\[0\]\.expect\.extra: unknown key/);
    writeFileSync(
      join(dir, 'file-invoices.test.yaml'),
      'ruleset: file-invoices\ncases:\n  - name: a\n    message: fixtures/missing.eml\n    expect: { acts: [no-such-rule] }\n',
    );
    const second = await cli(['test', dir]);
    assert.equal(second.code, 2);
    assert.match(
      second.stderr,
      /:4: cases\[0\]\.message: cannot read message file fixtures\/missing\.eml: ENOENT/,
    );
    assert.match(
      second.stderr,
      /:5: cases\[0\]\.expect\.acts\[0\]: no rule "no-such-rule" in ruleset file-invoices/,
    );
    writeFileSync(
      join(dir, 'file-invoices.test.yaml'),
      'ruleset: elsewhere\ncases:\n  - { name: a, message: x.eml, expect: { acts: [] } }\n',
    );
    const third = await cli(['test', dir]);
    assert.equal(third.code, 2);
    assert.match(third.stderr, /:1: ruleset: no rule file elsewhere\.yaml beside this file/);
  });

  it('prints the JSON Schema of test files, committed as generated', async () => {
    const result = await cli(['schema', 'test']);
    assert.equal(result.code, 0);
    assert.deepEqual(
      JSON.parse(result.stdout),
      JSON.parse(readFileSync('schema/test-file.schema.json', 'utf8')),
    );
    assert.ok(JSON.parse(result.stdout).properties.cases);
  });
});

describe('mailsift explain --eml', () => {
  it('shows each condition with the value it looked at, and the verdict, with the flags and date given', async () => {
    const args = [
      'explain',
      'rules/newsletters.yaml',
      '--rule',
      'archive-newsletters',
      '--eml',
      'rules/fixtures/newsletter.eml',
    ];
    const unread = await cli([
      ...args,
      '--received',
      '2026-11-01T06:00:00Z',
      '--now',
      '2026-12-20T09:00:00Z',
    ]);
    assert.equal(unread.code, 0, unread.stderr);
    assert.match(unread.stdout, /✓ header \{List-Id: ""\} +\(List-Id: ACME news <news\.acme\.example>\)/);
    assert.match(unread.stdout, /✗ seen true +\(no flags\)/);
    assert.match(unread.stdout, /✓ olderThan "14d" +\(received 2026-11-01T06:00:00\.000Z\)/);
    assert.match(unread.stdout, /^does not match$/m);
    const read = await cli([
      ...args,
      '--flags',
      '\\Seen',
      '--received',
      '2026-11-01T06:00:00Z',
      '--now',
      '2026-12-20T09:00:00Z',
    ]);
    assert.match(read.stdout, /^matches$/m);
    const unknown = await cli([
      'explain',
      'rules/newsletters.yaml',
      '--rule',
      'nope',
      '--eml',
      'rules/fixtures/newsletter.eml',
    ]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no rule "nope" \(its rules: archive-newsletters, empty-old-trash\)/);
  });
});

describe('mailsift explain --uid and capture, on a live mailbox', () => {
  let dovecot: TestDovecot;
  let dir: string;
  let accounts: string;
  const env = {};

  before(async () => {
    // The accounts file reads passwords from this process's environment: the CLI runs in it here.
    process.env.TEST_IMAP_PASSWORD = 'secret';
    dovecot = await startDovecot();
    const user = dovecot.addUser();
    dir = mkdtempSync(join(tmpdir(), 'mailsift-live-tests-'));
    writeFileSync(join(dir, 'ca.pem'), dovecot.certificate);
    accounts = join(dir, 'accounts.yaml');
    writeFileSync(
      accounts,
      `billing:\n  host: 127.0.0.1\n  port: ${dovecot.imapsPort}\n  user: ${user}\n  password: { env: TEST_IMAP_PASSWORD }\n  ca: ${join(dir, 'ca.pem')}\n`,
    );
    const other = await otherClient(dovecot, user);
    await other.deliver('INBOX', readFileSync('rules/fixtures/invoice.eml'), {
      internalDate: new Date('2026-11-30T08:00:00Z'),
      flags: ['$Paid'],
    });
    await other.deliver(
      'INBOX',
      makeMail({
        from: 'Dana <dana.private@customer.example>',
        subject: 'invoice question',
        text: 'my secret reply',
      }),
    );
    await other.close();
  });
  after(async () => {
    await dovecot?.stop();
  });

  it('explains a rule on a live message read-only, fetching the body only where the rule needs it', async () => {
    const header = await cli(
      [
        'explain',
        'rules/file-invoices.yaml',
        '--rule',
        'file-invoices',
        '--uid',
        '1',
        '--accounts',
        accounts,
        '--state',
        join(dir, 'state'),
      ],
      env,
    );
    assert.equal(header.code, 0, header.stderr);
    assert.match(
      header.stdout,
      /✓ attachment \{type: "application\/pdf"\} +\(application\/pdf "invoice-2026-11\.pdf"\)/,
    );
    assert.match(header.stdout, /^matches$/m);
    assert.doesNotMatch(header.stderr, /fetching/);
    const rules = join(dir, 'body.yaml');
    writeFileSync(
      rules,
      'account: billing\nschedule: rate(5 minutes)\nrules:\n  - { name: b, match: { body: november }, actions: [{ addFlags: [$B] }] }\n',
    );
    const body = await cli(
      ['explain', rules, '--rule', 'b', '--uid', '1', '--accounts', accounts, '--state', join(dir, 'state')],
      env,
    );
    assert.match(body.stderr, /fetching all of UID 1 \(the rule's body or text condition reads the body\)/);
    assert.match(body.stdout, /✓ body "november"/);
    const state = await otherClient(dovecot, readFileSync(accounts, 'utf8').match(/user: (\S+)/)?.[1] ?? '');
    await state.close();
  });

  it('captures a live message as a fixture with a case stub that mailsift test runs as the server saw it', async () => {
    const out = join(dir, 'fixtures');
    const result = await cli(
      [
        'capture',
        'billing',
        '--mailbox',
        'INBOX',
        '--uid',
        '1',
        '--out',
        out,
        '--accounts',
        accounts,
        '--state',
        join(dir, 'state'),
      ],
      env,
    );
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(readFileSync(join(out, 'INBOX-1.eml')), readFileSync('rules/fixtures/invoice.eml'));
    assert.match(result.stdout, /received: 2026-11-30T08:00:00\.000Z/);
    assert.match(result.stdout, /flags: \["\$Paid"\]/);
    cpSync('rules/file-invoices.yaml', join(dir, 'file-invoices.yaml'));
    const stub = result.stdout.replace('acts: []', 'acts: [file-invoices]');
    writeFileSync(
      join(dir, 'file-invoices.test.yaml'),
      `ruleset: file-invoices\nnow: 2026-12-20T09:00:00Z\ncases:\n${stub.replace('message: INBOX-1.eml', 'message: fixtures/INBOX-1.eml')}`,
    );
    const tested = await cli(['test', join(dir, 'file-invoices.test.yaml')]);
    assert.equal(tested.code, 0, tested.stdout + tested.stderr);
  });

  it('redacts a captured message: text and local parts replaced, structure and size kept, the rules decide the same', async () => {
    const base = [
      'capture',
      'billing',
      '--uid',
      '2',
      '--rules',
      'rules',
      '--accounts',
      accounts,
      '--state',
      join(dir, 'state'),
    ];
    assert.equal((await cli([...base, '--out', join(dir, 'plain')], env)).code, 0);
    const result = await cli([...base, '--out', join(dir, 'redacted'), '--redact'], env);
    assert.equal(result.code, 0, result.stderr);
    const plain = readFileSync(join(dir, 'plain', 'INBOX-2.eml'));
    const redacted = readFileSync(join(dir, 'redacted', 'INBOX-2.eml'));
    assert.match(plain.toString(), /dana\.private@customer\.example[\s\S]*my secret reply/);
    assert.doesNotMatch(redacted.toString(), /dana\.private|secret|reply/);
    assert.match(redacted.toString(), /^From: Dana <x{12}@customer\.example>$/m);
    assert.match(redacted.toString(), /^Subject: invoice question$/m, 'headers stay');
    assert.ok(
      Math.abs(redacted.length - plain.length) <= plain.length * 0.01,
      `${redacted.length} against ${plain.length}`,
    );
    const now = new Date();
    for (const ruleset of loadRulesets(['rules'])) {
      for (const rule of ruleset.rules) {
        assert.equal(
          matchesOffline(rule.match, messageFacts(redacted), { now }),
          matchesOffline(rule.match, messageFacts(plain), { now }),
          `${ruleset.name}/${rule.name}`,
        );
      }
    }
    assert.deepEqual(messageFacts(redacted).bodyStructure, messageFacts(plain).bodyStructure);
  });
});
