/**
 * A mailbox restored from a backup, measured as issue 24 put it: 2,000 messages, two rules (file the invoices,
 * tag the newsletters: 667 each), the Maildir copied away before the first run and put back after two runs. What
 * the run after the restore scans, acts on and takes, and where the invoices end up.
 *
 *   node --import tsx bench/restore.ts        # BENCH_MESSAGES=2000
 */
import { runRuleset } from '../functions/engine/run.ts';
import { startDovecot } from '../test/helpers/dovecot.ts';
import { makeMail } from '../test/helpers/mail.ts';
import { idsIn, rulesetOf } from '../test/helpers/rulesets.ts';
import { testState } from '../test/helpers/state.ts';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 2_000);
const RULES = rulesetOf(`rules:
  - { name: invoices, match: { from: billing@ }, actions: [{ moveTo: Finance }], limit: ${MESSAGES} }
  - { name: tag-news, match: { from: news@ }, actions: [{ addFlags: [$News] }], limit: ${MESSAGES} }
`);
const SENDERS = ['billing@acme.test', 'news@letters.test', 'anna@example.com'];

const dovecot = await startDovecot();
try {
  const user = dovecot.addUser();
  dovecot.seed(user, 'Finance', []);
  dovecot.seed(
    user,
    'INBOX',
    Array.from({ length: MESSAGES }, (_, i) => ({
      raw: makeMail({ messageId: `m${i}`, from: SENDERS[i % 3] }),
    })),
  );
  const state = testState();
  const backup = dovecot.snapshot(user);
  const run = async (label: string) => {
    const started = performance.now();
    const summary = await runRuleset(RULES, dovecot.account(user), { dryRun: false, state });
    const took = Math.round(performance.now() - started);
    const rules = summary.rules.map(
      (rule) => `${rule.name} ${rule.scan} (${rule.scanReason ?? ''}) acted ${rule.acted}`,
    );
    console.log(`${label.padEnd(14)} ${String(took).padStart(5)} ms  ${rules.join('; ')}`);
  };
  await run('first run');
  await run('next run');
  backup.restore();
  await run('after restore');
  const filed = idsIn(await dovecot.mailboxState(user), 'Finance').length;
  console.log(`invoices in Finance after the restore's run: ${filed} of ${Math.ceil(MESSAGES / 3)}`);
  await run('then');
} finally {
  await dovecot.stop();
}
