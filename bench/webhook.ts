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
import { makeMail } from '../test/helpers/mail.ts';
import { startReceiver } from '../test/helpers/receiver.ts';
import { rulesetOf } from '../test/helpers/rulesets.ts';

const FORWARD = (url: string) =>
  rulesetOf(
    `rules:\n  - { name: fwd, match: { from: monitoring@ }, actions: [{ webhook: { url: "${url}" } }], limit: 100000 }\n`,
  );

if (process.argv[2] === 'child') {
  // Child: one run, then report peak RSS. Nothing else lives in this process.
  const { account, url } = JSON.parse(process.argv[3] ?? '{}') as { account: ImapAccount; url: string };
  const summary = await runRuleset(FORWARD(url), account, { dryRun: false });
  const rule = summary.rules[0];
  if (summary.error || rule?.error) throw new Error(summary.error ?? rule?.error);
  process.stdout.write(
    JSON.stringify({ posted: rule?.actions[0]?.count, maxRssKb: process.resourceUsage().maxRSS }),
  );
  process.exit(0);
}

const ALERTS = Number(process.env.BENCH_WEBHOOK_MESSAGES ?? 1000);
const BIG = 5;

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
  const summary = await runRuleset(FORWARD(receiver.url), dovecot.account(user), { dryRun: false });
  const seconds = (performance.now() - started) / 1000;
  const posted = summary.rules[0]?.actions[0]?.count ?? 0;
  if (posted !== ALERTS || receiver.requests.length !== ALERTS)
    throw new Error(`posted ${posted}, received ${receiver.requests.length}`);

  // Memory: BIG messages with a 30 MB attachment each, against BIG small ones, each run in its own process.
  const attachment = Buffer.alloc(30 * 1024 * 1024, 7)
    .toString('base64')
    .replace(/(.{76})/g, '$1\r\n');
  const peak = async (big: boolean): Promise<number> => {
    const child = dovecot.addUser();
    dovecot.seed(
      child,
      'INBOX',
      Array.from({ length: BIG }, (_, i) => ({
        raw: big
          ? `From: monitoring@ops.test\r\nSubject: dump ${i}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n` +
            `--b\r\nContent-Type: text/plain\r\n\r\nsee dump\r\n--b\r\nContent-Type: application/octet-stream\r\n` +
            `Content-Disposition: attachment; filename="dump${i}.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n${attachment}\r\n--b--\r\n`
          : makeMail({ from: 'monitoring@ops.test', subject: `small ${i}`, text: 'see dump' }),
      })),
    );
    await dovecot.doveadm('mailbox', 'status', '-u', child, 'messages', 'INBOX');
    const proc = spawn('node', [
      '--import',
      'tsx',
      'bench/webhook.ts',
      'child',
      JSON.stringify({ account: dovecot.account(child), url: receiver.url }),
    ]);
    let out = '';
    proc.stdout.on('data', (chunk) => {
      out += chunk;
    });
    proc.stderr.pipe(process.stderr);
    await once(proc, 'close');
    const result = JSON.parse(out) as { posted: number; maxRssKb: number };
    if (result.posted !== BIG) throw new Error(`child posted ${result.posted}`);
    return result.maxRssKb / 1024;
  };
  const smallRss = await peak(false);
  const bigRss = await peak(true);

  console.log(`\nmailsift webhook bench (receiver and Dovecot on 127.0.0.1)`);
  console.log(
    `posted ${ALERTS} alerts in ${seconds.toFixed(2)} s: ${(ALERTS / seconds).toFixed(0)} messages/s (concurrency 4, one STORE per delivery)`,
  );
  console.log(
    `peak RSS forwarding ${BIG} messages with a 30 MB attachment each: ${bigRss.toFixed(0)} MB (same run with ${BIG} small messages: ${smallRss.toFixed(0)} MB)`,
  );
} finally {
  await receiver.close();
  await dovecot.stop();
}
