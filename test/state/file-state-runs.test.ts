/**
 * The file state store as the CLI uses it, across real `mailsift run` processes: private files, nothing created
 * in the mailbox, a lease that excludes a second process and dies with its own, and runs killed with SIGKILL at
 * many moments whose next run reads the state left behind and ends where an undisturbed run ends.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileStateStore } from '../../functions/state/file-store.ts';
import { thisProcess } from '../../functions/state/machine.ts';
import { accountScope } from '../../functions/state/store.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { makeMail } from '../helpers/mail.ts';

let dovecot: TestDovecot;
let work: string;

before(async () => {
  execFileSync('node', ['scripts/build.mjs']);
  dovecot = await startDovecot({ withoutCapabilities: ['MOVE'] });
  work = mkdtempSync(join(tmpdir(), 'mailsift-state-runs-'));
});
after(async () => {
  await dovecot?.stop();
});

/** Copies and tags alerts, files bills (COPY + UID EXPUNGE: no MOVE here), purges old news. */
const RULES = `account: test
schedule: rate(5 minutes)
rules:
  - { name: keep, match: { from: alerts@, notKeyword: $Copied }, actions: [{ copyTo: Archive }, { addFlags: [$Copied] }] }
  - { name: bills, match: { from: billing@ }, actions: [{ addFlags: ['\\Seen'] }, { moveTo: Finance }] }
  - { name: purge, match: { from: news@ }, actions: [{ delete: expunge }] }
`;

/** A user with 40 messages for the rules above, plus one another client marked \\Deleted; rules and accounts. */
function setup() {
  const user = dovecot.addUser();
  const senders = ['alerts@ops.test', 'billing@shop.test', 'news@letters.test', 'friend@home.test'];
  dovecot.seed(user, 'INBOX', [
    ...Array.from({ length: 40 }, (_, i) => ({
      raw: makeMail({ messageId: `m${i}`, from: senders[i % 4] as string, subject: `message ${i}` }),
    })),
    { raw: makeMail({ messageId: 'theirs', from: 'news@letters.test' }), flags: 'T' },
  ]);
  const home = mkdtempSync(join(work, 'user-'));
  mkdirSync(join(home, 'rules'));
  writeFileSync(join(home, 'rules', 'inbox.yaml'), RULES);
  writeFileSync(join(home, 'ca.pem'), dovecot.certificate);
  writeFileSync(
    join(home, 'accounts.yaml'),
    `test: { host: 127.0.0.1, port: ${dovecot.imapsPort}, user: ${user}, password: secret, ca: ca.pem }\n`,
  );
  return { user, home, state: join(home, 'state') };
}

/** Starts `mailsift run` for `home`; `killAfterMs` sends SIGKILL that long after the start. */
async function mailsiftRun(
  home: string,
  state: string,
  options: { killAfterMs?: number; args?: string[] } = {},
) {
  const child = spawn(
    'node',
    [
      'bin/mailsift.js',
      'run',
      join(home, 'rules'),
      '--accounts',
      join(home, 'accounts.yaml'),
      '--state',
      state,
      ...(options.args ?? []),
    ],
    { env: { ...process.env, MAILSIFT_ACCOUNTS: '' } },
  );
  let stdout = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stdout += chunk;
  });
  const timer =
    options.killAfterMs === undefined
      ? undefined
      : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
  const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
  clearTimeout(timer);
  return { code, signal, stdout };
}

/** Every message of `user`: mailbox, flags (\\Recent aside), by message id; a duplicate shows twice. */
async function endState(user: string): Promise<string[]> {
  const lines: string[] = [];
  for (const [mailbox, messages] of await dovecot.mailboxState(user)) {
    for (const message of messages) {
      lines.push(
        [message.messageId, mailbox, ...message.flags.filter((flag) => flag !== '\\Recent').sort()].join(' '),
      );
    }
  }
  return lines.sort();
}

/** Every path under `dir` with its permission bits. */
function modes(dir: string): { path: string; mode: number; directory: boolean }[] {
  const found = [{ path: dir, mode: statSync(dir).mode & 0o777, directory: true }];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...modes(path));
    else found.push({ path, mode: statSync(path).mode & 0o777, directory: false });
  }
  return found;
}

describe('the file state store under real mailsift processes', () => {
  it('a default run creates nothing in the mailbox, and its state is private (0700 directories, 0600 files)', async () => {
    const { user, home, state } = setup();
    const result = await mailsiftRun(home, state);
    assert.equal(result.code, 0, result.stdout);
    const mailboxes = await dovecot.doveadm('mailbox', 'list', '-u', user);
    assert.deepEqual(mailboxes.trim().split('\n').sort(), ['Archive', 'Finance', 'INBOX']);
    const entries = modes(state);
    assert.ok(entries.length > 1, 'the run wrote state');
    for (const entry of entries) assert.equal(entry.mode, entry.directory ? 0o700 : 0o600, entry.path);
  });

  it('a live lease of another process on this machine makes the run SKIPPED; --no-lease goes ahead', async () => {
    const { user, home, state } = setup();
    const sleeper = spawn('sleep', ['30']);
    try {
      const scope = accountScope({ user, host: '127.0.0.1' });
      await new FileStateStore(state).put(`${scope}/lease`, {
        ...thisProcess(),
        pid: sleeper.pid,
        started: 0,
        token: 'held-by-sleep',
        expiresAt: Date.now() + 60_000,
        rulesets: ['elsewhere'],
      });
      const skipped = await mailsiftRun(home, state);
      assert.equal(skipped.code, 0, skipped.stdout);
      assert.match(
        skipped.stdout,
        new RegExp(
          `SKIPPED: another run is working on this account \\(ruleset elsewhere on .+, pid ${sleeper.pid}`,
        ),
      );
      const untouched = await endState(user);
      assert.ok(!untouched.some((line) => / Archive /.test(line)), 'nothing was copied');
      const ahead = await mailsiftRun(home, state, { args: ['--no-lease'] });
      assert.equal(ahead.code, 0, ahead.stdout);
      assert.doesNotMatch(ahead.stdout, /SKIPPED/);
    } finally {
      sleeper.kill();
      await once(sleeper, 'exit');
    }
  });

  it('runs killed with SIGKILL at many moments: the next run reads what they left and ends as an undisturbed run', async (t) => {
    const reference = setup();
    const undisturbed = await mailsiftRun(reference.home, reference.state);
    assert.equal(undisturbed.code, 0, undisturbed.stdout);
    const expected = await endState(reference.user);
    // From before the connection to after the last rule: the whole CLI run takes about 250 ms here.
    const delays = Array.from({ length: 16 }, (_, i) => 40 + i * 15);
    let killed = 0;
    let files = 0;
    for (const delay of delays) {
      const { user, home, state } = setup();
      const cut = await mailsiftRun(home, state, { killAfterMs: delay });
      if (cut.signal === 'SIGKILL') killed++;
      // What a killed run left is private too (the lease record, a journal entry, a pending expunge).
      for (const entry of existsSync(state) ? modes(state) : []) {
        assert.equal(entry.mode, entry.directory ? 0o700 : 0o600, entry.path);
        if (!entry.directory) files++;
      }
      const rerun = await mailsiftRun(home, state);
      assert.equal(rerun.code, 0, `killed after ${delay} ms; rerun: ${rerun.stdout}`);
      assert.doesNotMatch(
        rerun.stdout,
        /SKIPPED/,
        `killed after ${delay} ms: the dead run's lease holds nothing`,
      );
      assert.deepEqual(await endState(user), expected, `killed after ${delay} ms: converges`);
    }
    t.diagnostic(`${killed} of ${delays.length} runs were killed mid-way, leaving ${files} state files`);
    assert.ok(files > 0, 'killed runs left state to read');
    assert.ok(killed >= delays.length / 2, `${killed} runs killed`);
  });
});
