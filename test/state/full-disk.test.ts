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
 * In a private mount namespace: a 512 KB tmpfs at `mount`, filled but for one page (room for the lease, not for the
 * checkpoint after it), then `mailsift run` (its output in `first.*`), the filler removed, and `mailsift run`
 * again (`second.*`).
 */
const SCRIPT = `set -u
mount -t tmpfs -o size=512k tmpfs "$MOUNT"
mkdir -m 700 "$MOUNT/state"
dd if=/dev/zero of="$MOUNT/room" bs=4k count=1 2>/dev/null
dd if=/dev/zero of="$MOUNT/filler" bs=4k 2>/dev/null || true
rm -f "$MOUNT/room"
node bin/mailsift.js run "$RULES" --json --accounts "$ACCOUNTS" --state "$MOUNT/state" >"$OUT/first.out" 2>"$OUT/first.err"
echo $? >"$OUT/first.code"
rm -f "$MOUNT/filler"
node bin/mailsift.js run "$RULES" --json --accounts "$ACCOUNTS" --state "$MOUNT/state" >"$OUT/second.out" 2>"$OUT/second.err"
echo $? >"$OUT/second.code"
umount "$MOUNT"
`;

describe('file state on a full disk', () => {
  it('says ENOSPC for what it could not write and loses nothing; with space again the next run looks afresh', async () => {
    const user = dovecot.addUser();
    const ids = ['b1', 'b2', 'a1'];
    dovecot.seed(
      user,
      'INBOX',
      ids.map((id) => ({
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
        MAILSIFT_ACCOUNTS: '',
      },
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(started.status, 0, `unshare/mount failed (root needed): ${started.stderr}`);
    const read = (name: string) => readFileSync(join(out, name), 'utf8');
    assert.equal(read('first.code').trim(), '1', read('first.err'));
    // The lease fitted, the rule acted; then the checkpoint and the history entry could not be written, and say so.
    const first = JSON.parse(read('first.out'));
    assert.match(
      first.rules[0].error,
      /^its checkpoint was not saved \(cannot write state record .*ENOSPC: no space left/,
    );
    assert.match(first.historyError, /not in its history: .*ENOSPC/);
    // Nothing lost: every message is in INBOX or filed, none twice.
    const afterFirst = await dovecot.mailboxState(user);
    assert.deepEqual(
      [...idsIn(afterFirst, 'INBOX'), ...idsIn(afterFirst, 'Finance')].sort(),
      [...ids].sort(),
    );
    assert.equal(read('second.code').trim(), '0', read('second.err'));
    // No checkpoint was kept, so the second run looks at everything again, and finds the job done.
    const second = JSON.parse(read('second.out'));
    assert.deepEqual(
      second.rules.map((rule: { scanReason: string; acted: number }) => [rule.scanReason, rule.acted]),
      [['first run', 0]],
    );
    const end = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(end, 'INBOX'), ['a1']);
    assert.deepEqual(idsIn(end, 'Finance', '$Filed'), ['b1', 'b2']);
  });
});
