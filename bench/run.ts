/**
 * `npm run bench`: wall time and IMAP commands for rules over 5,000 matches in a 10,000-message mailbox,
 * against a throwaway Dovecot on 127.0.0.1 (the same helper the tests use). Each repetition gets a fresh
 * user seeded with the same messages, so every run does the same work. Prints a table; asserts nothing.
 */
import { runRuleset } from '../functions/engine/run.ts';
import { startDovecot, type TestDovecot } from '../test/helpers/dovecot.ts';
import { makeMail } from '../test/helpers/mail.ts';
import { rulesetOf } from '../test/helpers/rulesets.ts';
import { testState } from '../test/helpers/state.ts';

/** Where these runs keep their state: one real file store for the whole file. */
const stateStore = testState();

const MATCHES = Number(process.env.BENCH_MATCHES ?? 5000);
const REPETITIONS = Number(process.env.BENCH_REPETITIONS ?? 5);

const SCENARIOS: readonly { name: string; rules: string; dryRun?: boolean; lease?: boolean }[] = [
  {
    name: 'addFlags (SEARCH only)',
    rules: `{ name: r, match: { from: invoices@ }, actions: [{ addFlags: [$Invoice] }], limit: ${MATCHES} }`,
  },
  {
    name: 'moveTo (MOVE)',
    rules: `{ name: r, match: { from: invoices@ }, actions: [{ moveTo: Finance }], limit: ${MATCHES} }`,
  },
  {
    name: 'moveTo, dry run',
    rules: `{ name: r, match: { from: invoices@ }, actions: [{ moveTo: Finance }], limit: ${MATCHES} }`,
    dryRun: true,
  },
  {
    // The copy journal's STATUS comes with the lease; without it (--no-lease), a cut run may copy twice.
    name: 'copyTo + addFlags (journal)',
    rules: `{ name: r, match: { from: invoices@, notKeyword: $Copied }, actions: [{ copyTo: Copies }, { addFlags: [$Copied] }], limit: ${MATCHES} }`,
  },
  {
    name: 'copyTo + addFlags, --no-lease',
    rules: `{ name: r, match: { from: invoices@, notKeyword: $Copied }, actions: [{ copyTo: Copies }, { addFlags: [$Copied] }], limit: ${MATCHES} }`,
    lease: false,
  },
  {
    name: 'subjectMatches + addFlags',
    rules: `{ name: r, match: { subjectMatches: '^Invoice \\d+$' }, actions: [{ addFlags: [$Invoice] }], limit: ${MATCHES} }`,
  },
  {
    name: 'attachment + delete: trash',
    rules: `{ name: r, match: { attachment: { type: application/pdf } }, actions: [{ delete: trash }], limit: ${MATCHES} }`,
  },
];

function seed(dovecot: TestDovecot): string {
  const user = dovecot.addUser();
  const messages = [];
  for (let i = 0; i < MATCHES; i++) {
    messages.push({
      raw: makeMail({
        from: 'invoices@shop.test',
        subject: `Invoice ${i}`,
        attachments: [
          { filename: `invoice-${i}.pdf`, contentType: 'application/pdf', content: '%PDF-1.4 x' },
        ],
      }),
    });
    messages.push({ raw: makeMail({ from: 'friend@x.test', subject: `Hello ${i}` }) });
  }
  dovecot.seed(user, 'INBOX', messages);
  return user;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

const dovecot = await startDovecot();
try {
  const rows: string[][] = [];
  for (const scenario of SCENARIOS) {
    const times: number[] = [];
    let commands = 0;
    let matched = 0;
    for (let rep = 0; rep < REPETITIONS; rep++) {
      const user = seed(dovecot);
      // Let Dovecot index the new maildir first, so the timing is mailsift's, not the first scan's.
      await dovecot.doveadm('mailbox', 'status', '-u', user, 'messages', 'INBOX');
      const started = performance.now();
      const summary = await runRuleset(rulesetOf(`rules:\n  - ${scenario.rules}\n`), dovecot.account(user), {
        state: stateStore,
        dryRun: scenario.dryRun ?? false,
        lease: scenario.lease === false ? 'none' : 'state',
      });
      times.push(performance.now() - started);
      const rule = summary.rules[0];
      if (summary.error || rule?.error) throw new Error(`${scenario.name}: ${summary.error ?? rule?.error}`);
      commands = rule?.imapCommands ?? 0;
      matched = rule?.matched ?? 0;
    }
    rows.push([
      scenario.name,
      String(matched),
      String(commands),
      median(times).toFixed(0),
      Math.min(...times).toFixed(0),
    ]);
  }
  const header = ['scenario', 'matched', 'IMAP cmds (rule)', 'median ms (whole run)', 'min ms'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  console.log(
    `mailsift bench: ${MATCHES} matches in a ${2 * MATCHES}-message mailbox, ${REPETITIONS} runs each, Dovecot on 127.0.0.1 over TLS`,
  );
  console.log(line(header));
  for (const row of rows) console.log(line(row));
} finally {
  await dovecot.stop();
}
