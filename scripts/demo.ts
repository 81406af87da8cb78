/**
 * `npm run demo`: mailsift end to end without an IMAP account of your own. Starts a throwaway Dovecot on
 * 127.0.0.1 and a webhook receiver, seeds realistic mailboxes for the accounts the shipped rules/ name, runs
 * them in dry run and then for real with the CLI, and shows folder counts before and after and what the
 * webhook received. Everything it started is stopped at the end, on failure and on Ctrl-C.
 *
 *   DEMO_MESSAGES=400   messages per account (default 400)
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { signatureHeader } from '../functions/webhook/deliver.ts';
import { startDovecot, type TestDovecot } from '../test/helpers/dovecot.ts';
import { realisticMailbox } from '../test/helpers/realistic-mailbox.ts';
import { type Receiver, startReceiver } from '../test/helpers/receiver.ts';

const MESSAGES = Number(process.env.DEMO_MESSAGES ?? 400);
/** The accounts the shipped rule files name, each a Dovecot user of its own. */
const ACCOUNTS = ['billing', 'ops', 'personal'] as const;
const WEBHOOK_SECRET = 'demo-signing-secret';
const DAY = 86_400_000;

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

function commandExists(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Installs Dovecot when missing and we may (root); otherwise says the one command to run and stops. */
function ensureDovecot(): void {
  const isRoot = process.getuid?.() === 0;
  if (!commandExists('dovecot')) {
    if (!isRoot || !commandExists('apt-get')) {
      say(
        'The demo needs Dovecot. Install it, then run `npm run demo` again:\n\n  sudo apt-get install -y dovecot-imapd\n',
      );
      process.exit(1);
    }
    say('Installing Dovecot (apt-get install -y dovecot-imapd) …');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', 'dovecot-imapd'], { stdio: 'inherit', env });
  }
  if (!isRoot) {
    // The throwaway Dovecot runs from a private config and serves mail as the `mail` user: that takes root.
    say('The demo starts its own Dovecot, which needs root: run `sudo npm run demo`.');
    process.exit(1);
  }
}

/** Messages per folder, e.g. `INBOX 400`, for every folder of `user`. */
async function folderCounts(dovecot: TestDovecot, user: string): Promise<Map<string, number>> {
  const output = await dovecot.doveadm('-f', 'tab', 'mailbox', 'status', '-u', user, 'messages', '*');
  const counts = new Map<string, number>();
  for (const line of output.trim().split('\n').slice(1)) {
    const [mailbox = '', messages = '0'] = line.split('\t');
    counts.set(mailbox, Number(messages));
  }
  return counts;
}

function printCounts(before: Map<string, Map<string, number>>, after?: Map<string, Map<string, number>>) {
  say(after ? '\nFolders before → after:' : '\nFolders:');
  for (const account of ACCOUNTS) {
    const was = before.get(account) ?? new Map();
    const now = after?.get(account) ?? was;
    const folders = [...new Set([...was.keys(), ...now.keys()])].sort();
    const cells = folders.map((folder) =>
      after ? `${folder} ${was.get(folder) ?? 0} → ${now.get(folder) ?? 0}` : `${folder} ${was.get(folder)}`,
    );
    say(`  ${account.padEnd(9)} ${cells.join(' · ')}`);
  }
}

let running: ChildProcess | undefined;

/** Runs the CLI as a user would; its output (and progress line, on a terminal) goes straight through. */
async function mailsift(args: string[]): Promise<number> {
  running = spawn(process.execPath, ['bin/mailsift.js', ...args], { stdio: 'inherit' });
  const [code] = (await once(running, 'exit')) as [number | null];
  running = undefined;
  return code ?? 1;
}

async function seedAccounts(dovecot: TestDovecot): Promise<Record<string, string>> {
  const users: Record<string, string> = {};
  const now = new Date();
  for (const [index, account] of ACCOUNTS.entries()) {
    const user = dovecot.addUser();
    users[account] = user;
    dovecot.seed(user, 'INBOX', realisticMailbox(MESSAGES, now, 42 + index));
    // Old mail in Trash, for the personal ruleset's "empty Trash after 90 days" rule.
    dovecot.seed(
      user,
      'Trash',
      realisticMailbox(Math.ceil(MESSAGES / 10), now, 7 + index).map((message, i) => ({
        ...message,
        internalDate: new Date(now.getTime() - (i % 2 === 0 ? 120 : 10) * DAY),
      })),
    );
  }
  return users;
}

function summarisePosts(receiver: Receiver): void {
  const posts = receiver.requests;
  const verified = posts.filter((post) => {
    const header = String(post.headers['x-mailsift-signature']);
    const t = Number(/^t=(\d+),/.exec(header)?.[1]);
    return header === signatureHeader(WEBHOOK_SECRET, post.body, t);
  }).length;
  const keys = new Set(posts.map((post) => post.headers['idempotency-key']));
  say(
    `\nThe webhook receiver got ${posts.length} POST(s), ${keys.size} distinct Idempotency-Key(s), ` +
      `${verified} with a valid X-Mailsift-Signature.`,
  );
  for (const payload of receiver.payloads().slice(0, 3)) {
    const from = (payload.from as { address: string }[])[0]?.address;
    say(`  uid ${payload.uid}  ${from}  ${payload.subject}`);
  }
  if (posts.length > 3) say(`  … and ${posts.length - 3} more`);
}

async function main(): Promise<void> {
  ensureDovecot();
  let dovecot: TestDovecot | undefined;
  let receiver: Receiver | undefined;
  let stopping: Promise<void> | undefined;
  const stopAll = () => {
    stopping ??= (async () => {
      await receiver?.close();
      await dovecot?.stop();
    })();
    return stopping;
  };
  process.once('SIGINT', () => {
    say('\nInterrupted: stopping Dovecot and the webhook receiver …');
    // A Ctrl-C at a terminal reaches the CLI too; a SIGINT sent to the demo alone must not leave it behind.
    running?.kill('SIGINT');
    void stopAll().then(() => process.exit(130));
  });
  try {
    dovecot = await startDovecot();
    receiver = await startReceiver();
    say(`Dovecot on 127.0.0.1:${dovecot.imapsPort} (TLS), working directory ${dovecot.dir}`);
    say(`Webhook receiver on ${new URL(receiver.url).host}`);

    const users = await seedAccounts(dovecot);
    const accountsFile = join(dovecot.dir, 'accounts.yaml');
    writeFileSync(
      accountsFile,
      ACCOUNTS.map(
        (account) =>
          `${account}: { host: 127.0.0.1, port: ${dovecot?.imapsPort}, tls: implicit, user: ${users[account]}, ` +
          `password: secret, ca: ${dovecot?.certificateFile} }`,
      ).join('\n'),
    );
    const parametersFile = join(dovecot.dir, 'parameters.yaml');
    writeFileSync(
      parametersFile,
      `/mailsift/webhooks/ops: ${receiver.url}\n/mailsift/webhooks/ops-secret: ${WEBHOOK_SECRET}\n`,
    );
    say(
      `Seeded ${MESSAGES} messages per account (invoices, newsletters, alerts, personal mail) into INBOX, and old mail into Trash.`,
    );
    const before = new Map<string, Map<string, number>>();
    for (const account of ACCOUNTS) before.set(account, await folderCounts(dovecot, users[account] ?? ''));
    printCounts(before);

    // The demo's state goes with the rest of its working directory, not into ~/.local/state.
    const files = [
      '--accounts',
      accountsFile,
      '--parameters',
      parametersFile,
      '--state',
      join(dovecot.dir, 'state'),
    ];
    say('\n$ mailsift validate');
    if ((await mailsift(['validate'])) !== 0) throw new Error('the shipped rules/ are invalid');
    say('\n$ mailsift run --dry-run   (EXAMINE only: the server guarantees nothing changes)');
    const dry = await mailsift(['run', '--dry-run', ...files]);
    if (receiver.requests.length > 0) throw new Error('the dry run posted to the webhook');
    say('\n$ mailsift run');
    const real = await mailsift(['run', ...files]);

    const after = new Map<string, Map<string, number>>();
    for (const account of ACCOUNTS) after.set(account, await folderCounts(dovecot, users[account] ?? ''));
    printCounts(before, after);
    summarisePosts(receiver);
    if (dry !== 0 || real !== 0) throw new Error(`mailsift exited with ${dry} (dry run) and ${real} (run)`);
    say('\nDone. Everything the demo started has been stopped.');
  } finally {
    await stopAll();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${(error as Error).message}\n`);
  process.exitCode = 1;
});
