import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { before, describe, it } from 'node:test';

before(() => {
  execFileSync('node', ['scripts/build.mjs']);
});

/** Starts the demo as `npm run demo` does (after its build step), with a small mailbox. */
function startDemo() {
  const child = spawn('node', ['--import', 'tsx', 'scripts/demo.ts'], {
    env: { ...process.env, DEMO_MESSAGES: '60' },
  });
  const output = { text: '' };
  child.stdout.on('data', (chunk) => {
    output.text += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output.text += chunk;
  });
  return { child, output };
}

/** The demo's working directory (Dovecot's config, mail and certificate), from its first line. */
function workDir(text: string): string {
  const dir = /working directory (\S+)/.exec(text)?.[1];
  assert.ok(dir, text);
  return dir;
}

/** Whether any process still runs from that directory (Dovecot's master is started with -c DIR/…). */
function processesUsing(dir: string): string[] {
  const lines = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n');
  return lines.filter((line) => line.includes(dir));
}

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
}

describe('npm run demo', () => {
  it('plans, runs the shipped rules, shows counts before and after and the webhook posts, then stops everything', async () => {
    const { child, output } = startDemo();
    const [code] = (await once(child, 'exit')) as [number | null];
    const text = output.text;
    assert.equal(code, 0, text);

    assert.match(text, /^ {2}billing {3}.*INBOX 60 · Trash 6$/m);
    assert.match(text, /file-invoices \(account billing, dry run, nothing changed/);
    assert.match(
      text,
      /^ {2}ok {3}file-invoices \[INBOX\]: matched \d+, would act on \d+ \(full: first run\)$/m,
    );
    assert.match(text, /file-invoices \(account billing, run, \d+ ms/);
    // Invoices left INBOX for Finance/Invoices; old newsletters went to Trash.
    const billing = /^ {2}billing {3}(.*)$/m.exec(text.slice(text.indexOf('before → after')))?.[1] ?? '';
    const [, invoices] = /Finance\/Invoices 0 → (\d+)/.exec(billing) ?? [];
    assert.ok(Number(invoices) > 0, billing);
    const [, inboxAfter] = /INBOX 60 → (\d+)/.exec(billing) ?? [];
    assert.ok(Number(inboxAfter) < 60, billing);
    // mailsift's state is its own: no folder of ours in any account.
    assert.doesNotMatch(text, /mailsift-lease/);

    const posts =
      /The webhook receiver got (\d+) POST\(s\), (\d+) distinct Idempotency-Key\(s\), (\d+) with a valid/.exec(
        text,
      );
    assert.ok(posts, text);
    const [, count, keys, signed] = posts.map(Number);
    assert.ok((count ?? 0) > 0);
    assert.equal(keys, count, 'each message posted once');
    assert.equal(signed, count, 'every post carries a valid signature');

    const dir = workDir(text);
    assert.equal(existsSync(dir), false, 'the working directory is removed');
    await waitFor(() => processesUsing(dir).length === 0, 5000);
    assert.deepEqual(processesUsing(dir), []);
  });

  it('stops Dovecot and the receiver on Ctrl-C', async () => {
    const { child, output } = startDemo();
    await waitFor(() => output.text.includes('Webhook receiver on'), 30_000);
    const dir = workDir(output.text);
    assert.notDeepEqual(processesUsing(dir), [], 'Dovecot is running');
    child.kill('SIGINT');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 130, output.text);
    assert.match(output.text, /Interrupted: stopping Dovecot/);
    assert.equal(existsSync(dir), false);
    await waitFor(() => processesUsing(dir).length === 0, 5000);
    assert.deepEqual(processesUsing(dir), []);
  });
});
