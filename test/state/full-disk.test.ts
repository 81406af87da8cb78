/**
 * The file state on a full disk, for real: a small private tmpfs (`unshare -m`, as root) filled up but for one page,
 * the bundled CLI run against the test Dovecot with its state there. The run fails with the device's own words and
 * loses nothing; once space is freed, the next run ends as an undisturbed run would.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { makeMail } from '../helpers/mail.ts';
import { idsIn } from '../helpers/rulesets.ts';

let dovecot: TestDovecot;
before(async () => {
  execFileSync('node', ['scripts/build.mjs']);
  dovecot = await startDovecot();
});
after(async () => {
  await dovecot?.stop();
});

const RULES = `account: test
schedule: rate(5 minutes)
rules:
  - { name: file, match: { from: billing@ }, actions: [{ addFlags: [$Filed] }, { moveTo: Finance }] }
`;

/**
 * In a private mount namespace: a 512 KB tmpfs at `mount`, filled but for $PAGES pages (one holds the lease, not the
 * checkpoint after it), then `mailsift run` (its output in `first.*`), the filler removed, and `mailsift run`
 * again (`second.*`).
 */
const SCRIPT = `set -u
mount -t tmpfs -o size=512k tmpfs "$MOUNT"
mkdir -m 700 "$MOUNT/state"
[ "$PAGES" -gt 0 ] && dd if=/dev/zero of="$MOUNT/room" bs=4k count=$PAGES 2>/dev/null
dd if=/dev/zero of="$MOUNT/filler" bs=4k 2>/dev/null || true
rm -f "$MOUNT/room"
node bin/mailsift.js run "$RULES" --json --accounts "$ACCOUNTS" --state "$MOUNT/state" >"$OUT/first.out" 2>"$OUT/first.err"
echo $? >"$OUT/first.code"
doveadm -c "$DOVECOT_CONFIG" fetch -u "$MAIL_USER" 'mailbox hdr.message-id' all >"$OUT/between"
rm -f "$MOUNT/filler"
node bin/mailsift.js run "$RULES" --json --accounts "$ACCOUNTS" --state "$MOUNT/state" >"$OUT/second.out" 2>"$OUT/second.err"
echo $? >"$OUT/second.code"
umount "$MOUNT"
`;

interface FullDiskRuns {
  readonly user: string;
  /** Mailbox → message ids, between the two runs. */
  readonly between: Map<string, string[]>;
  readonly first: { readonly code: string; readonly summary: Record<string, unknown> };
  readonly second: {
    readonly code: string;
    readonly summary: Record<string, unknown>;
    readonly stderr: string;
  };
}

/** A fresh user with two invoices and a letter; the two runs of SCRIPT with `pages` pages of the tmpfs free. */
async function runsWithRoomFor(pages: number): Promise<FullDiskRuns> {
  const user = dovecot.addUser();
  dovecot.seed(
    user,
    'INBOX',
    IDS.map((id) => ({
      raw: makeMail({ messageId: id, from: id.startsWith('b') ? 'billing@acme.test' : 'anna@example.com' }),
    })),
  );
  const home = mkdtempSync(join(tmpdir(), 'mailsift-full-disk-'));
  const [rules, mount, out] = [join(home, 'rules'), join(home, 'mount'), join(home, 'out')];
  for (const dir of [rules, mount, out]) mkdirSync(dir);
  writeFileSync(join(rules, 'inbox.yaml'), RULES);
  writeFileSync(join(home, 'ca.pem'), dovecot.certificate);
  const accounts = join(home, 'accounts.yaml');
  writeFileSync(
    accounts,
    `test:\n  host: 127.0.0.1\n  port: ${dovecot.imapsPort}\n  tls: implicit\n  user: ${user}\n  password: secret\n  ca: ca.pem\n`,
  );
  const started = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', SCRIPT], {
    env: {
      ...process.env,
      MOUNT: mount,
      RULES: rules,
      ACCOUNTS: accounts,
      OUT: out,
      PAGES: String(pages),
      DOVECOT_CONFIG: dovecot.configFile,
      MAIL_USER: user,
      MAILSIFT_ACCOUNTS: '',
    },
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(started.status, 0, `unshare/mount failed (root needed): ${started.stderr}`);
  const read = (name: string) => readFileSync(join(out, name), 'utf8');
  const summary = (name: string) => {
    const text = read(name).trim();
    assert.ok(text, `${name} is empty; stderr: ${read(name.replace('.out', '.err'))}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  return {
    user,
    between: messagesIn(read('between')),
    first: { code: read('first.code').trim(), summary: summary('first.out') },
    second: { code: read('second.code').trim(), summary: summary('second.out'), stderr: read('second.err') },
  };
}

const IDS = ['b1', 'b2', 'a1'];

/** `doveadm fetch 'mailbox hdr.message-id'` output as mailbox → message ids (test ids), sorted. */
function messagesIn(output: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  let mailbox = '';
  for (const line of output.split('\n')) {
    const box = /^mailbox: (.*)$/.exec(line);
    if (box) mailbox = box[1] ?? '';
    const id = /^hdr\.message-id: <(.*)@test>/.exec(line)?.[1];
    if (id) found.set(mailbox, [...(found.get(mailbox) ?? []), id].sort());
  }
  return found;
}

/** Every id once, in INBOX or filed. */
function everyMessageOnce(between: Map<string, string[]>): string[] {
  return [...(between.get('INBOX') ?? []), ...(between.get('Finance') ?? [])].sort();
}

/** Nothing lost after the first run, and where an undisturbed run ends after the second. */
async function assertConverged(runs: FullDiskRuns, label: string): Promise<void> {
  assert.equal(runs.second.code, '0', `${label}: ${runs.second.stderr}`);
  const end = await dovecot.mailboxState(runs.user);
  assert.deepEqual(idsIn(end, 'INBOX'), ['a1'], label);
  assert.deepEqual(idsIn(end, 'Finance', '$Filed'), ['b1', 'b2'], label);
}

describe('file state on a full disk', () => {
  it('full before the run: it changes nothing and says why; with space the next run does the job', async () => {
    const runs = await runsWithRoomFor(0);
    assert.equal(runs.first.code, '1');
    assert.match(
      String(runs.first.summary.error),
      /cannot write state record \S+\/lease .*ENOSPC: no space left/,
    );
    assert.deepEqual(runs.between.get('INBOX'), [...IDS].sort(), 'nothing changed');
    assert.equal(runs.between.get('Finance'), undefined, 'nothing changed');
    await assertConverged(runs, 'full before the run');
  });

  it('room for the lease only: the rule acts, the checkpoint and the history entry say ENOSPC, nothing is lost', async () => {
    const runs = await runsWithRoomFor(1);
    assert.equal(runs.first.code, '1');
    const [rule] = runs.first.summary.rules as { error?: string }[];
    assert.match(
      String(rule?.error),
      /^its checkpoint was not saved \(cannot write state record .*ENOSPC: no space left/,
    );
    assert.match(String(runs.first.summary.historyError), /not in its history: .*ENOSPC/);
    assert.deepEqual(runs.between.get('Finance'), ['b1', 'b2'], 'the rule acted');
    assert.deepEqual(everyMessageOnce(runs.between), [...IDS].sort(), 'nothing lost');
    // No checkpoint was kept, so the second run looks at everything again, and finds the job done.
    const rules = runs.second.summary.rules as { scanReason: string; acted: number }[];
    assert.deepEqual(
      rules.map((each) => [each.scanReason, each.acted]),
      [['first run', 0]],
    );
    await assertConverged(runs, 'room for the lease');
  });

  it('full part way, at each state write in turn: a clear error or historyError, then convergence', async () => {
    const outcomes: string[] = [];
    for (let pages = 2; pages <= 6; pages++) {
      const runs = await runsWithRoomFor(pages);
      const text = JSON.stringify(runs.first.summary);
      const failed = runs.first.code !== '0' || /ENOSPC/.test(text);
      if (failed) assert.match(text, /ENOSPC: no space left on device/, `${pages} pages: said why`);
      assert.deepEqual(everyMessageOnce(runs.between), [...IDS].sort(), `${pages} pages: nothing lost`);
      await assertConverged(runs, `${pages} pages`);
      outcomes.push(failed ? 'ENOSPC' : 'clean');
    }
    // The sweep reached past the run's last write: the disk ran full at some write, and at the end at none.
    assert.ok(outcomes.includes('ENOSPC') && outcomes.at(-1) === 'clean', outcomes.join(', '));
  });
});
