/**
 * Webhook figures: messages posted per second to a receiver on 127.0.0.1, and the client's peak RSS when
 * forwarding messages with a 30 MB attachment (measured in a child process that does nothing else, next to a
 * child that forwards the same number of small messages). Part of `npm run bench`.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { runRuleset } from '../functions/engine/run.ts';
import type { ImapAccount } from '../functions/imap/session.ts';
import { startDovecot } from '../test/helpers/dovecot.ts';
import { HOSTILE } from '../test/helpers/hostile-mail.ts';
import { makeMail } from '../test/helpers/mail.ts';
import { startReceiver } from '../test/helpers/receiver.ts';
import { rulesetOf } from '../test/helpers/rulesets.ts';
import { testState } from '../test/helpers/state.ts';

/** Where these runs keep their state: one real file store for the whole file. */
const stateStore = testState();

const FORWARD = (url: string, include = false) =>
  rulesetOf(
    `rules:\n  - { name: fwd, match: { from: '@' }, actions: [{ webhook: { url: "${url}"${include ? ', include: [text, attachments]' : ''} } }], limit: 100000 }\n`,
  );

if (process.argv[2] === 'child') {
  // Child: one run, then report peak RSS. Nothing else lives in this process.
  const { account, url, include } = JSON.parse(process.argv[3] ?? '{}') as {
    account: ImapAccount;
    url: string;
    include: boolean;
  };
  const summary = await runRuleset(FORWARD(url, include), account, { state: stateStore, dryRun: false });
  const rule = summary.rules[0];
  // Undeliverable messages (the hostile corpus has some) are counted; any other failure ends the bench.
  if (summary.error || (rule?.error && rule.errorType !== 'DeliveryError'))
    throw new Error(summary.error ?? rule?.error);
  process.stdout.write(
    JSON.stringify({
      posted: rule?.actions[0]?.count,
      failed: rule?.failed?.length ?? 0,
      maxRssKb: process.resourceUsage().maxRSS,
    }),
  );
  process.exit(0);
}

const ALERTS = Number(process.env.BENCH_WEBHOOK_MESSAGES ?? 1000);
const BIG = 5;
const HOSTILE_COPIES = 100;
const UNCLOSED = 3;

const dovecot = await startDovecot();
const receiver = await startReceiver();
try {
  // Throughput: ALERTS small alerts, receiver answers 200 at once.
  const user = dovecot.addUser();
  dovecot.seed(
    user,
    'INBOX',
    Array.from({ length: ALERTS }, (_, i) => ({
      raw: makeMail({
        from: 'monitoring@ops.test',
        subject: `[ALERT] check ${i}`,
        text: `check ${i} failed\n`.repeat(20),
      }),
    })),
  );
  await dovecot.doveadm('mailbox', 'status', '-u', user, 'messages', 'INBOX');
  const started = performance.now();
  const summary = await runRuleset(FORWARD(receiver.url), dovecot.account(user), {
    state: stateStore,
    dryRun: false,
  });
  const seconds = (performance.now() - started) / 1000;
  const posted = summary.rules[0]?.actions[0]?.count ?? 0;
  if (posted !== ALERTS || receiver.requests.length !== ALERTS)
    throw new Error(`posted ${posted}, received ${receiver.requests.length}`);

  // Memory: BIG messages with a 30 MB attachment each, against BIG small ones, each run in its own process.
  const attachment = Buffer.alloc(30 * 1024 * 1024, 7)
    .toString('base64')
    .replace(/(.{76})/g, '$1\r\n');
  const bigMessage = (i: number, closed: boolean) =>
    `From: monitoring@ops.test\r\nSubject: dump ${i}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n` +
    `--b\r\nContent-Type: text/plain\r\n\r\nsee dump\r\n--b\r\nContent-Type: application/octet-stream\r\n` +
    `Content-Disposition: attachment; filename="dump${i}.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n${attachment}\r\n` +
    (closed ? '--b--\r\n' : ''); // unclosed: the boundary never ends, the parser must still stop
  const small = (count: number) =>
    Array.from({ length: count }, (_, i) =>
      makeMail({ from: 'monitoring@ops.test', subject: `small ${i}`, text: 'see dump' }),
    );
  /** Peak RSS (MB) of a child process that forwards `messages`, and what it posted and failed. */
  const peak = async (messages: (string | Buffer)[], include: boolean) => {
    const child = dovecot.addUser();
    dovecot.seed(
      child,
      'INBOX',
      messages.map((raw) => ({ raw })),
    );
    await dovecot.doveadm('mailbox', 'status', '-u', child, 'messages', 'INBOX');
    const proc = spawn('node', [
      '--import',
      'tsx',
      'bench/webhook.ts',
      'child',
      JSON.stringify({ account: dovecot.account(child), url: receiver.url, include }),
    ]);
    let out = '';
    proc.stdout.on('data', (chunk) => {
      out += chunk;
    });
    proc.stderr.pipe(process.stderr);
    await once(proc, 'close');
    const result = JSON.parse(out) as { posted: number; failed: number; maxRssKb: number };
    return { ...result, mb: result.maxRssKb / 1024 };
  };
  const smallRun = await peak(small(BIG), false);
  const bigRun = await peak(
    Array.from({ length: BIG }, (_, i) => bigMessage(i, true)),
    false,
  );
  if (smallRun.posted !== BIG || bigRun.posted !== BIG)
    throw new Error(`posted ${smallRun.posted} and ${bigRun.posted}`);
  // The hostile corpus, HOSTILE_COPIES times over, plus messages whose 30 MB part never closes its boundary,
  // forwarded with text and attachments (the full parse), against as many small messages.
  const hostile = [
    ...Array.from({ length: HOSTILE_COPIES }, () => HOSTILE.map((raw) => Buffer.from(raw, 'latin1'))).flat(),
    ...Array.from({ length: UNCLOSED }, (_, i) => bigMessage(i, false)),
  ];
  const hostileRun = await peak(hostile, true);
  const hostileBaseline = await peak(small(hostile.length), true);

  console.log(`\nmailsift webhook bench (receiver and Dovecot on 127.0.0.1)`);
  console.log(
    `posted ${ALERTS} alerts in ${seconds.toFixed(2)} s: ${(ALERTS / seconds).toFixed(0)} messages/s (concurrency 4, one STORE per delivery)`,
  );
  console.log(
    `peak RSS forwarding ${BIG} messages with a 30 MB attachment each: ${bigRun.mb.toFixed(0)} MB (same run with ${BIG} small messages: ${smallRun.mb.toFixed(0)} MB)`,
  );
  console.log(
    `peak RSS forwarding the hostile corpus ×${HOSTILE_COPIES} and ${UNCLOSED} unclosed 30 MB messages (${hostile.length}, text and attachments): ` +
      `${hostileRun.mb.toFixed(0)} MB, ${hostileRun.posted} posted, ${hostileRun.failed} unreadable ` +
      `(as many small messages: ${hostileBaseline.mb.toFixed(0)} MB)`,
  );
} finally {
  await receiver.close();
  await dovecot.stop();
}
