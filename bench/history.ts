/**
 * What the history costs: one rule that flags and files every message of a 50,000-message mailbox, with the
 * journal (the default) and without it (RunOptions.history: false), each repetition on a fresh user. Median wall
 * time, IMAP commands, and the journal entry's size; then the undo of one such run.
 *
 *   node --import tsx bench/history.ts        # BENCH_MESSAGES=50000, BENCH_REPETITIONS=3
 */

import { undoRun } from '../functions/engine/history/undo.ts';
import { runRuleset } from '../functions/engine/run.ts';
import { historyEntries } from '../functions/history.ts';
import { startDovecot } from '../test/helpers/dovecot.ts';
import { makeMail } from '../test/helpers/mail.ts';
import { rulesetOf } from '../test/helpers/rulesets.ts';
import { testState } from '../test/helpers/state.ts';
import { median } from './compare.ts';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 50_000);
const REPETITIONS = Number(process.env.BENCH_REPETITIONS ?? 3);
const RULESET = rulesetOf(
  `rules:\n  - { name: file, match: { from: billing@ }, actions: [{ addFlags: [$Invoice] }, { moveTo: Finance }], limit: ${MESSAGES} }\n`,
);

const dovecot = await startDovecot();
try {
  const seeded = Array.from({ length: MESSAGES }, (_, i) => ({
    raw: makeMail({ messageId: `m${i}`, from: 'billing@acme.test', subject: `Invoice ${i}` }),
  }));
  const freshUser = () => {
    const user = dovecot.addUser();
    dovecot.seed(user, 'INBOX', seeded);
    return user;
  };
  freshUser(); // the first user on a fresh Dovecot is slower
  console.log(`\nThe history's cost: addFlags + moveTo of ${MESSAGES} messages, median of ${REPETITIONS}`);
  const results: Record<string, number> = {};
  let lastRun: { user: string; state: ReturnType<typeof testState>; runId: string } | undefined;
  for (const history of [false, true]) {
    const times: number[] = [];
    let commands = 0;
    for (let i = 0; i < REPETITIONS; i++) {
      const user = freshUser();
      const state = testState();
      const started = performance.now();
      const summary = await runRuleset(RULESET, dovecot.account(user), { state, dryRun: false, history });
      times.push(performance.now() - started);
      if (summary.rules[0]?.error) throw new Error(summary.rules[0].error);
      commands = summary.imapCommands;
      if (summary.runId) lastRun = { user, state, runId: summary.runId };
    }
    results[String(history)] = median(times);
    console.log(
      `history ${history ? 'on ' : 'off'}  ${median(times).toFixed(0).padStart(6)} ms, ${commands} IMAP commands`,
    );
  }
  const overhead = ((results.true ?? 0) / (results.false ?? 1) - 1) * 100;
  console.log(`the journal adds ${overhead.toFixed(1)} % to the run`);
  if (lastRun) {
    const [entry] = await historyEntries(lastRun.state, lastRun.runId, {});
    if (entry) {
      console.log(`journal entry: ${JSON.stringify(entry).length} bytes`);
      const started = performance.now();
      const report = await undoRun(entry, dovecot.account(lastRun.user), {
        state: lastRun.state,
        dryRun: false,
      });
      const restored = report.restored.reduce((sum, line) => sum + line.count, 0);
      console.log(
        `undo: ${(performance.now() - started).toFixed(0)} ms, ${restored} restored (moves and flags), ${report.notUndone.length} not undone`,
      );
    }
  }
} finally {
  await dovecot.stop();
}
