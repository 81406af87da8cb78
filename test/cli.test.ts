import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeSelfSigned } from './helpers/certificates.ts';
import { CORPUS } from './helpers/corpus.ts';
import { startDovecot, type TestDovecot } from './helpers/dovecot.ts';
import { minimalImap, startFakeImap } from './helpers/fake-imap.ts';
import { makeMail } from './helpers/mail.ts';
import { startReceiver } from './helpers/receiver.ts';
import { idsIn } from './helpers/rulesets.ts';

let dovecot: TestDovecot;
let work: string;

before(async () => {
  // The CLI under test is the bundled bin, as a user runs it.
  execFileSync('node', ['scripts/build.mjs']);
  dovecot = await startDovecot();
  work = mkdtempSync(join(tmpdir(), 'mailsift-cli-'));
});
after(async () => {
  await dovecot?.stop();
});

function mailsift(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync('node', ['bin/mailsift.js', ...args], {
    encoding: 'utf8',
    env: { ...process.env, MAILSIFT_ACCOUNTS: '', MAILSIFT_STATE: join(work, 'state'), ...env },
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Like `mailsift`, without blocking this process: servers in this test process keep answering. */
async function mailsiftAsync(args: string[], env: Record<string, string> = {}) {
  const child = spawn('node', ['bin/mailsift.js', ...args], {
    env: { ...process.env, MAILSIFT_ACCOUNTS: '', MAILSIFT_STATE: join(work, 'state'), ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

/** A rules dir with one ruleset for account `test`, and an accounts file whose password comes from the env. */
function setup(rules: string): { dir: string; accounts: string; user: string } {
  const user = dovecot.addUser('pa"ss\\wörd');
  dovecot.seed(user, 'INBOX', CORPUS);
  const home = mkdtempSync(join(work, 'setup-'));
  const dir = join(home, 'rules');
  mkdirSync(dir);
  writeFileSync(join(dir, 'inbox.yaml'), `account: test\nschedule: rate(5 minutes)\nrules:\n${rules}`);
  writeFileSync(join(home, 'ca.pem'), dovecot.certificate);
  const accounts = join(home, 'accounts.yaml');
  writeFileSync(
    accounts,
    `test:\n  host: 127.0.0.1\n  port: ${dovecot.imapsPort}\n  tls: implicit\n  user: ${user}\n  password: { env: TEST_IMAP_PASSWORD }\n  ca: ca.pem\n`,
  );
  return { dir, accounts, user };
}

const PASSWORD_ENV = { TEST_IMAP_PASSWORD: 'pa"ss\\wörd' };

describe('mailsift validate', () => {
  it('accepts the shipped rules/ with exit 0', () => {
    const result = mailsift(['validate']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^ok {2}file-invoices: account billing, rate\(15 minutes\), 2 rule\(s\)$/m);
  });

  it('lists every problem and exits 2 for an invalid file', () => {
    const file = join(work, 'bad.yaml');
    writeFileSync(
      file,
      'account: x\nschedule: rate(5 minutes)\nrules:\n  - name: a\n    match: { sbject: x }\n    actions: [{ moveTo: "" }]\n',
    );
    const result = mailsift(['validate', file]);
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr,
      `${file}:5: rules[0].match.sbject: unknown key\n` +
        `${file}:5: rules[0].match: expected at least one match key (an empty match selects every message)\n` +
        `${file}:6: rules[0].actions[0].moveTo: expected a mailbox name, not an empty string\n` +
        '3 problem(s); nothing was run.\n',
    );
  });
});

describe('mailsift history and undo', () => {
  it('lists the run, shows it in detail, and takes it back', async () => {
    const { dir, accounts, user } = setup(
      '  - { name: file-billing, match: { from: billing@ }, actions: [{ addFlags: [$Billing] }, { moveTo: Finance }] }\n',
    );
    const before = await dovecot.mailboxState(user);
    const state = join(work, `history-${user}`);
    const files = ['--accounts', accounts, '--state', state];
    const run = mailsift(['run', dir, '--json', ...files], PASSWORD_ENV);
    assert.equal(run.code, 0, run.stderr);
    const runId = JSON.parse(run.stdout.trim()).runId as string;
    assert.match(runId, /^\d{8}T\d{6}Z-[0-9a-f]{4}$/);

    const history = mailsift(['history', '--state', state, '--account', 'test']);
    assert.equal(history.code, 0, history.stderr);
    assert.match(
      history.stdout,
      new RegExp(
        `^${runId} .* inbox \\(account test\\)  file-billing: addFlags \\$Billing 2, moveTo Finance 2$`,
        'm',
      ),
    );
    const detail = mailsift(['history', runId, '--state', state]);
    assert.match(detail.stdout, /moveTo Finance: 2 message\(s\), UIDs 1:2 → Finance as UIDs 1:2/);
    // A sample of what the rule acted on, as a dry run shows it.
    assert.match(detail.stdout, /^ {4}e\.g\. UID 1, \d{4}-\d\d-\d\d .*billing@.*: \S.*$/m);
    assert.equal(mailsift(['history', 'no-such-run', '--state', state]).code, 1);

    const undo = mailsift(['undo', runId, ...files], PASSWORD_ENV);
    assert.equal(undo.code, 0, undo.stderr);
    assert.match(undo.stdout, /restored {2}file-billing: moveTo Finance: 2/);
    const after = await dovecot.mailboxState(user);
    const ids = (state: typeof before, mailbox: string) =>
      (state.get(mailbox) ?? [])
        .map((m) => `${m.messageId} ${m.flags.filter((f) => f !== '\\Recent').join(' ')}`)
        .sort();
    assert.deepEqual(ids(after, 'INBOX'), ids(before, 'INBOX'));
    const listed = mailsift(['history', '--state', state, '--json']);
    assert.equal(listed.stdout.trim().split('\n').length, 2, 'the undo is in the history too');
  });
});

describe('mailsift run --dry-run --plan, then mailsift apply', () => {
  it('acts on exactly the planned messages that still match, never on new mail, and refuses changed rules', async () => {
    const { dir, accounts, user } = setup(
      '  - { name: file-billing, match: { from: billing@, seen: false }, actions: [{ moveTo: Finance }] }\n  - { name: tag-news, match: { from: news@ }, actions: [{ addFlags: [$News] }] }\n',
    );
    const state = join(work, `plan-${user}`);
    const plan = join(work, `plan-${user}.json`);
    const files = ['--accounts', accounts, '--state', state];
    const dry = mailsift(['run', dir, '--dry-run', '--plan', plan, ...files], PASSWORD_ENV);
    assert.equal(dry.code, 0, dry.stderr);
    const written = JSON.parse(readFileSync(plan, 'utf8'));
    assert.deepEqual(
      written.rulesets[0].rules.map((rule: { name: string; uids: string }) => [rule.name, rule.uids]),
      [
        ['file-billing', '2'], // inv2: unseen, from billing@
        ['tag-news', '3:4'],
      ],
    );
    // The mailbox changes after the review: news1 is expunged, and new mail arrives that the rules would match.
    await dovecot.doveadm('expunge', '-u', user, 'mailbox', 'INBOX', 'header', 'Message-ID', '<news1@test>');
    dovecot.seed(user, 'INBOX', [
      { raw: makeMail({ messageId: 'inv9', from: 'billing@acme.test' }) },
      { raw: makeMail({ messageId: 'news9', from: 'news@letters.test' }) },
    ]);
    const applied = mailsift(['apply', plan, dir, '--json', ...files], PASSWORD_ENV);
    assert.equal(applied.code, 0, applied.stderr);
    const summary = JSON.parse(applied.stdout.trim());
    assert.deepEqual(
      summary.rules.map((rule: { name: string; acted: number; skipped?: { uid: number }[] }) => [
        rule.name,
        rule.acted,
        rule.skipped?.map((entry) => entry.uid),
      ]),
      [
        ['file-billing', 1, undefined],
        ['tag-news', 1, [3]],
      ],
    );
    const after = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(after, 'Finance'), ['inv2']);
    assert.deepEqual(idsIn(after, 'INBOX', '$News'), ['news2']);
    assert.ok(
      idsIn(after, 'INBOX').includes('inv9') && idsIn(after, 'INBOX').includes('news9'),
      'new mail untouched',
    );

    writeFileSync(
      join(dir, 'inbox.yaml'),
      'account: test\nschedule: rate(5 minutes)\nrules:\n  - { name: tag-news, match: { from: news@ }, actions: [{ addFlags: [$Other] }] }\n',
    );
    const refused = mailsift(['apply', plan, dir, ...files], PASSWORD_ENV);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /the rules of inbox changed since the plan was made: make a new plan/);
  });
});

describe('mailsift run', () => {
  const RULES = `  - { name: file-billing, match: { from: billing@ }, actions: [{ addFlags: [$Billing] }, { moveTo: Finance }] }
  - { name: flag-alerts, match: { subjectMatches: '^\\[ALERT\\]' }, actions: [{ addFlags: ['\\Flagged'] }] }
`;

  it('--dry-run --json prints one summary line per ruleset and changes nothing', async () => {
    const { dir, accounts, user } = setup(RULES);
    const before = await dovecot.mailboxState(user);
    const result = mailsift(['run', dir, '--dry-run', '--json', '--accounts', accounts], PASSWORD_ENV);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const summary = JSON.parse(lines[0] ?? '');
    assert.equal(summary.ruleset, 'inbox');
    assert.equal(summary.account, 'test');
    assert.equal(summary.dryRun, true);
    assert.equal(typeof summary.durationMs, 'number');
    assert.ok(!Number.isNaN(Date.parse(summary.startedAt)));
    assert.deepEqual(
      summary.rules.map(
        (rule: { name: string; mailbox: string; matched: number; acted: number; actions: unknown }) => [
          rule.name,
          rule.mailbox,
          rule.matched,
          rule.acted,
          rule.actions,
        ],
      ),
      [
        [
          'file-billing',
          'INBOX',
          2,
          2,
          [
            { type: 'addFlags', target: '$Billing', count: 2 },
            { type: 'moveTo', target: 'Finance', count: 2 },
          ],
        ],
        ['flag-alerts', 'INBOX', 1, 1, [{ type: 'addFlags', target: '\\Flagged', count: 1 }]],
      ],
    );
    assert.deepEqual(await dovecot.mailboxState(user), before);
  });

  it('plans several rulesets of one account as the real run then does (what an earlier one moves is not counted again)', async () => {
    const { dir, accounts } = setup(
      '  - { name: file-billing, match: { from: billing@ }, actions: [{ moveTo: Finance }] }\n',
    );
    // A second ruleset of the same account, run after inbox.yaml, that also matches the billing mail.
    writeFileSync(
      join(dir, 'later.yaml'),
      'account: test\nschedule: rate(5 minutes)\nrules:\n  - { name: flag-all, match: { seen: false }, actions: [{ addFlags: [$Later] }] }\n',
    );
    const counts = (stdout: string) =>
      stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { rules: { name: string; matched: number; acted: number }[] })
        .flatMap((summary) => summary.rules.map((rule) => [rule.name, rule.matched, rule.acted]));
    const plan = mailsift(['run', dir, '--dry-run', '--json', '--accounts', accounts], PASSWORD_ENV);
    const real = mailsift(['run', dir, '--json', '--accounts', accounts], PASSWORD_ENV);
    assert.equal(plan.code, 0, plan.stderr);
    assert.equal(real.code, 0, real.stderr);
    assert.deepEqual(counts(plan.stdout), counts(real.stdout));
  });

  it('says how each rule scanned: in full first, then incrementally, and in full again with --full', async () => {
    const { dir, accounts } = setup(RULES);
    const run = (...extra: string[]) =>
      mailsift(['run', dir, ...extra], { ...PASSWORD_ENV, MAILSIFT_ACCOUNTS: accounts }).stdout;
    assert.match(run(), /file-billing \[INBOX\]: matched 2, acted on 2 \(full: first run\)$/m);
    assert.match(run(), /file-billing \[INBOX\]: matched 0, acted on 0 \(incremental\)$/m);
    const json = JSON.parse(run('--full', '--json')) as { rules: { scan: string; scanReason: string }[] };
    assert.deepEqual(json.rules[0], { ...json.rules[0], scan: 'full', scanReason: '--full' });
  });

  it('runs for real with a human summary, exit 0', async () => {
    const { dir, accounts, user } = setup(RULES);
    const result = mailsift(['run', dir], { ...PASSWORD_ENV, MAILSIFT_ACCOUNTS: accounts });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^inbox \(account test, run, \d+ ms, \d+ IMAP commands\)$/m);
    assert.match(
      result.stdout,
      /^ {2}ok {3}file-billing \[INBOX\]: matched 2, acted on 2 \(full: first run\)$/m,
    );
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(state, 'Finance', '$Billing'), ['inv1', 'inv2']);
    assert.deepEqual(idsIn(state, 'INBOX', '\\Flagged'), ['alert1', 'news2']);
  });

  it('runs a rule file with accounts on each account separately: its own summary and its own mail', async () => {
    const { dir, accounts, user } = setup(RULES);
    const other = dovecot.addUser('pa"ss\\wörd');
    dovecot.seed(other, 'INBOX', CORPUS);
    const text = readFileSync(join(dir, 'inbox.yaml'), 'utf8').replace(
      'account: test',
      'accounts: [test, other]',
    );
    writeFileSync(join(dir, 'inbox.yaml'), text);
    writeFileSync(
      accounts,
      `${readFileSync(accounts, 'utf8')}other:\n  host: 127.0.0.1\n  port: ${dovecot.imapsPort}\n  user: ${other}\n  password: { env: TEST_IMAP_PASSWORD }\n  ca: ca.pem\n`,
    );
    assert.match(
      mailsift(['validate', dir]).stdout,
      /^ok {2}inbox: accounts test, other, rate\(5 minutes\)/m,
    );
    const result = mailsift(['run', dir, '--json'], { ...PASSWORD_ENV, MAILSIFT_ACCOUNTS: accounts });
    assert.equal(result.code, 0, result.stderr);
    const summaries = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.deepEqual(
      summaries.map((summary) => [summary.ruleset, summary.account, summary.rules[0].acted]),
      [
        ['inbox', 'test', 2],
        ['inbox', 'other', 2],
      ],
    );
    for (const owner of [user, other])
      assert.deepEqual(idsIn(await dovecot.mailboxState(owner), 'Finance', '$Billing'), ['inv1', 'inv2']);
  });

  it('shows a progress line per rule on a terminal, and none with --json or without a terminal', async () => {
    const { dir, accounts } = setup(RULES);
    // script(1) gives the CLI a pseudo-terminal, as a person at a terminal would run it.
    const inTerminal = (extra: string) =>
      spawnSync(
        'script',
        ['-qec', `node bin/mailsift.js run ${dir} --accounts ${accounts} ${extra}`, '/dev/null'],
        {
          encoding: 'utf8',
          env: { ...process.env, MAILSIFT_STATE: join(work, 'state'), ...PASSWORD_ENV },
          timeout: 60_000,
        },
      );
    const human = inTerminal('');
    assert.equal(human.status, 0, human.stdout);
    // Each update redraws the line: carriage return, erase line, text.
    const redraws = human.stdout.split('\r\x1b[K').slice(1);
    assert.ok(redraws.includes('inbox › file-billing: matched 2'), human.stdout);
    assert.ok(redraws.includes('inbox › file-billing: matched 2 · moveTo (2/2) 2/2'), human.stdout);
    assert.ok(redraws.includes('inbox › flag-alerts: matched 1 · addFlags (1/1) 1/1'), human.stdout);
    // The status line is erased before the summary is printed.
    assert.match(redraws.at(-1) ?? '', /^inbox \(account test, run/);

    const json = inTerminal('--json');
    assert.equal(json.status, 0, json.stdout);
    assert.ok(!json.stdout.includes('\x1b') && !json.stdout.includes('›'), json.stdout);
    const again = setup(RULES);
    const piped = mailsift(['run', again.dir, '--accounts', again.accounts], PASSWORD_ENV);
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stderr, '');
  });

  it('exits 1 when a rule fails, after running the others', async () => {
    const { dir, accounts, user } =
      setup(`  - { name: broken, mailbox: Missing, match: { seen: true }, actions: [{ addFlags: [$X] }] }
  - { name: works, match: { seen: true }, actions: [{ addFlags: [$Y] }] }
`);
    const result = mailsift(['run', dir, '--json', '--accounts', accounts], PASSWORD_ENV);
    assert.equal(result.code, 1);
    const summary = JSON.parse(result.stdout);
    assert.equal(summary.rules[0].error, 'mailbox "Missing" does not exist');
    assert.equal(summary.rules[1].error, undefined);
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'INBOX', '$Y'), ['inv1', 'news1']);
  });

  it('exits 1 on a wrong password and never prints it', () => {
    const { dir, accounts } = setup(RULES);
    const wrong = 'Wr0ng-"secret"-\\-ü';
    const result = mailsift(['run', dir, '--accounts', accounts], { TEST_IMAP_PASSWORD: wrong });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /FAILED: login to 127\.0\.0\.1:\d+ as "user[\w-]+" was rejected/);
    for (const output of [result.stdout, result.stderr]) {
      assert.ok(!output.includes(wrong));
      assert.ok(!output.includes('secret'));
    }
  });

  it('never prints the password when the connection or TLS fails', async () => {
    const { dir } = setup(RULES);
    const password = 'Conn3ct"pa\\ss-wörd';
    const closed = await startFakeImap({ greeting: null, answer: () => {} });
    const refusedPort = closed.port;
    await closed.close();
    for (const [port, ca, expected] of [
      [refusedPort, 'ca.pem', /ECONNREFUSED/],
      // The right server, but without its CA: the certificate is refused.
      [dovecot.imapsPort, undefined, /certificate is not trusted/],
    ] as const) {
      const file = join(dir, '..', `accounts-${port}.yaml`);
      writeFileSync(
        file,
        `test: { host: 127.0.0.1, port: ${port}, user: someone, password: { env: PW }${ca ? `, ca: ${ca}` : ''} }\n`,
      );
      for (const json of [[], ['--json']]) {
        const result = await mailsiftAsync(['run', dir, '--accounts', file, ...json], { PW: password });
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stdout, expected);
        for (const output of [result.stdout, result.stderr]) {
          assert.ok(!output.includes('Conn3ct') && !output.includes('wörd'), output);
        }
      }
    }
  });

  it('shows server text (ALERT, NO, BYE) as escaped data, and keeps --json lines valid', async () => {
    const { dir } = setup(RULES);
    const certificate = makeSelfSigned(mkdtempSync(join(work, 'hostile-')));
    const ESC = '\x1b';
    const hostile = `${ESC}]0;owned\x07${ESC}[2J"quoted"\u2028`;
    for (const [name, answer] of [
      // A rule fails: SELECT answered NO with escape sequences, after an [ALERT].
      [
        'select',
        minimalImap('', (tag, command, _line, socket) => {
          if (command !== 'SELECT') return false;
          socket.write(`* OK [ALERT] ${hostile}\r\n${tag} NO ${hostile}\r\n`);
          return true;
        }),
      ],
      // The login is answered with BYE.
      [
        'bye',
        minimalImap('', (_tag, command, _line, socket) => {
          if (command !== 'AUTHENTICATE' && command !== 'LOGIN') return false;
          socket.end(`* BYE ${hostile}\r\n`);
          return true;
        }),
      ],
    ] as const) {
      const server = await startFakeImap({
        greeting: '* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake\r\n',
        answer,
        tls: { cert: certificate.cert, key: certificate.key },
      });
      try {
        const file = join(dir, '..', `accounts-${name}.yaml`);
        writeFileSync(
          file,
          `test: { host: 127.0.0.1, port: ${server.port}, user: u, password: p, ca: ${certificate.certFile} }\n`,
        );
        const human = await mailsiftAsync(['run', dir, '--accounts', file]);
        assert.equal(human.code, 1, human.stderr);
        const raw = [...'\x07\x1b\u2028'].filter((char) => (human.stdout + human.stderr).includes(char));
        assert.deepEqual(raw, [], JSON.stringify(human.stdout));
        assert.match(human.stdout, /\\u001b/, name);
        const json = await mailsiftAsync(['run', dir, '--accounts', file, '--json']);
        const lines = json.stdout.trim().split('\n');
        assert.equal(lines.length, 1);
        const summary = JSON.parse(lines[0] ?? '');
        const errors = JSON.stringify([
          summary.error,
          ...summary.rules.map((rule: { error?: string }) => rule.error),
        ]);
        assert.ok(errors.includes('\\u001b'), `${name}: ${errors}`);
      } finally {
        await server.close();
      }
    }
  });

  it('exits 2 before connecting when the accounts file lacks an account or an env variable', () => {
    const { dir, accounts } = setup(RULES);
    const noEnv = mailsift(['run', dir, '--accounts', accounts]);
    assert.equal(noEnv.code, 2);
    assert.equal(
      noEnv.stderr,
      'mailsift: account "test": password refers to environment variable TEST_IMAP_PASSWORD, which is not set\n',
    );
    const other = join(work, 'other-accounts.yaml');
    writeFileSync(other, 'someone: { host: h, user: u, password: p }\n');
    const missing = mailsift(['run', dir, '--accounts', other]);
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, `mailsift: account "test" is not in ${other}\n`);
    const none = mailsift(['run', dir]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no accounts file: pass --accounts FILE or set MAILSIFT_ACCOUNTS/);
  });

  it('forwards alerts to a webhook whose URL comes from --parameters, once per message', async () => {
    const receiver = await startReceiver();
    try {
      const { dir, accounts, user } = setup(`  - name: forward-alerts
    match: { from: monitoring@, seen: false }
    actions:
      - webhook: { url: { parameter: /mailsift/webhooks/ops } }
      - addFlags: ['\\Seen']
`);
      const parameters = join(dir, '..', 'parameters.yaml');
      writeFileSync(parameters, `/mailsift/webhooks/ops: ${receiver.url}\n`);
      const args = ['run', dir, '--json', '--accounts', accounts, '--parameters', parameters];
      const first = await mailsiftAsync(args, PASSWORD_ENV);
      assert.equal(first.code, 0, first.stdout + first.stderr);
      const second = await mailsiftAsync(args, PASSWORD_ENV);
      assert.equal(second.code, 0, second.stdout + second.stderr);
      assert.equal(JSON.parse(second.stdout).rules[0].matched, 0);
      assert.deepEqual(
        receiver
          .payloads()
          .map((p) => p.subject)
          .sort(),
        ['[ALERT] disk full on db1', '[RESOLVED] disk full on db1'],
      );
      assert.ok(!first.stdout.includes('secret-path-token'));
      assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'INBOX', '$mailsift-fwd-forward-alerts'), [
        'alert1',
        'alert2',
      ]);
      // The history keeps what was posted: each message's Idempotency-Key, as the receiver got it, and its status.
      const detail = mailsift(['history', JSON.parse(first.stdout).runId, '--state', join(work, 'state')]);
      const keys = receiver.requests.map((request) => request.headers['idempotency-key']).sort();
      const listed = [
        ...detail.stdout.matchAll(/^ {6}UID \d+ answered 200, Idempotency-Key ([0-9a-f]{64})$/gm),
      ];
      assert.deepEqual(listed.map((match) => match[1]).sort(), keys, detail.stdout);
      // No secret in the history or anywhere else in the state: not the password, not the webhook URL's path.
      const stateFiles = readdirSync(join(work, 'state'), { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => readFileSync(join(entry.parentPath, entry.name), 'utf8'));
      assert.ok(stateFiles.some((text) => text.includes('Idempotency') || text.includes('idempotencyKey')));
      for (const text of stateFiles) {
        assert.ok(!text.includes('secret-path-token'), 'no webhook URL');
        assert.ok(!text.includes(PASSWORD_ENV.TEST_IMAP_PASSWORD), 'no password');
      }
    } finally {
      await receiver.close();
    }
  });

  it('--no-lease runs without the account lease: no lease mailbox, no ticket', async () => {
    const { dir, accounts, user } = setup(RULES);
    const result = await mailsiftAsync(['run', dir, '--no-lease', '--accounts', accounts], PASSWORD_ENV);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /ok {3}file-billing \[INBOX\]: matched 2, acted on 2/);
    assert.doesNotMatch(await dovecot.doveadm('mailbox', 'list', '-u', user), /mailsift-lease/);
  });

  it('two processes started at once: each alert is posted once, and the one that found the account busy says so', async () => {
    // A receiver that takes 500 ms per POST keeps the first run on the account for a second, so the two
    // processes (started together, about 300 ms to connect) overlap for certain.
    const receiver = await startReceiver({ delayMs: 500 });
    try {
      const { dir, accounts, user } = setup(`  - name: forward-alerts
    match: { from: monitoring@ }
    actions:
      - webhook: { url: '${receiver.url}', attempts: 1 }
      - moveTo: Alerts
`);
      const args = ['run', dir, '--accounts', accounts];
      const runs = await Promise.all([mailsiftAsync(args, PASSWORD_ENV), mailsiftAsync(args, PASSWORD_ENV)]);
      for (const result of runs) assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.deepEqual(
        receiver
          .payloads()
          .map((payload) => payload.subject)
          .sort(),
        ['[ALERT] disk full on db1', '[RESOLVED] disk full on db1'],
      );
      const busy = runs.filter((result) => result.stdout.includes('SKIPPED'));
      assert.equal(busy.length, 1, runs.map((result) => result.stdout).join('\n'));
      assert.match(
        busy[0]?.stdout ?? '',
        /SKIPPED: another run is working on this account \(ruleset inbox on .+, pid \d+, until .+ at the latest\); nothing was changed/,
      );
      assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'Alerts'), ['alert1', 'alert2']);
    } finally {
      await receiver.close();
    }
  });
});
