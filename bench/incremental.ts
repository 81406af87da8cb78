/**
 * Scheduled runs, as users have them: the same rules again over a mailbox that barely changed. Per size, each
 * tool (mailsift, imapfilter, doveadm as the floor) gets its own copy of one generated mailbox and runs three
 * times: the first run (a full scan for everyone), then after 1% new mail (delivered and indexed before timing),
 * then with nothing new. mailsift keeps its checkpoints between the runs (its state directory), imapfilter
 * rescans, as every peer does. After each phase the three end states must be equal, or the phase is void.
 * Server CPU is the Dovecot master's reaped children (the imap and imap-login processes of the run), client CPU
 * the tool's process (GNU time). Medians of BENCH_REPETITIONS (default 3), each on fresh copies.
 *
 *   node --import tsx bench/incremental.ts            # 10,000 messages
 *   BENCH_LARGE=1 node --import tsx bench/incremental.ts   # and 50,000
 */
import { execFile as execFileCallback } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startDovecot, type TestDovecot } from '../test/helpers/dovecot.ts';
import { realisticMailbox } from '../test/helpers/realistic-mailbox.ts';
import { benchSettings, differences, freshUser, median, runToolOn, type Tool } from './compare.ts';

const execFile = promisify(execFileCallback);

const TOOLS = (process.env.BENCH_ORDER?.split(',') ?? [
  'mailsift',
  'imapfilter',
  'doveadm',
]) as readonly Tool[];
const PHASES = ['first run', '1% new', 'nothing new'] as const;
const TICK_MS = 10; // /proc counts CPU in clock ticks of 1/100 s (USER_HZ)

/** CPU the server spent so far on processes that ended: the master's reaped children (utime + stime), ms. */
function serverCpuMs(dovecot: TestDovecot): number {
  const pid = readFileSync(join(dovecot.dir, 'run', 'master.pid'), 'utf8').trim();
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  // After "pid (comm) ": field 3 is state, so cutime and cstime (fields 16 and 17) are at 13 and 14.
  return (Number(fields[13]) + Number(fields[14])) * TICK_MS;
}

/** Waits until the run's server processes have ended and been reaped, so their CPU is counted. */
async function settledServerCpuMs(dovecot: TestDovecot): Promise<number> {
  let last = -1;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    const now = serverCpuMs(dovecot);
    if (now === last) return now;
    last = now;
  }
}

interface PhaseRun {
  readonly ms: number;
  readonly serverMs: number;
  readonly clientMs: number;
  readonly commands: number | null;
}

/** One repetition: each tool's three runs on its own copy; the number of messages whose end states differed. */
async function runPhases(dovecot: TestDovecot, size: number, order: readonly Tool[]) {
  const messages = realisticMailbox(size);
  // The first user of a freshly started Dovecot stays about 2.5 times slower, whichever tool works on it (seen
  // with imapfilter alone, also on its later runs): a throwaway one takes that place.
  await runToolOn('doveadm', dovecot, await freshUser(dovecot, messages));
  const users = new Map<Tool, string>();
  for (const tool of TOOLS) users.set(tool, await freshUser(dovecot, messages));
  const runs = new Map<string, PhaseRun>();
  let mismatches = 0;
  for (const phase of PHASES) {
    if (phase === '1% new') {
      const fresh = realisticMailbox(Math.max(1, Math.round(size / 100)), new Date(), 7);
      for (const user of users.values()) {
        dovecot.seed(user, 'INBOX', fresh);
        await dovecot.doveadm('mailbox', 'status', '-u', user, 'messages', 'INBOX');
      }
    }
    const ends = new Map<Tool, Map<string, string>>();
    for (const tool of order) {
      // Written back first, so that no tool pays for flushing what the seeding wrote.
      await execFile('sync');
      const cpuBefore = await settledServerCpuMs(dovecot);
      const run = await runToolOn(tool, dovecot, users.get(tool) ?? '');
      const serverMs = (await settledServerCpuMs(dovecot)) - cpuBefore;
      runs.set(`${phase}/${tool}`, {
        ms: run.ms,
        serverMs,
        clientMs: run.clientCpuMs,
        commands: run.commands,
      });
      ends.set(tool, run.endState);
    }
    const reference = ends.get('doveadm') ?? new Map();
    const differing = TOOLS.flatMap((tool) => differences(ends.get(tool) ?? new Map(), reference));
    if (differing.length > 0) console.log(`  ${size} ${phase}: e.g. ${differing.slice(0, 3).join('; ')}`);
    mismatches += differing.length;
  }
  return { runs, mismatches };
}

/** The table rows of one size: medians over the repetitions, each tool against imapfilter. */
function report(size: number, repetitions: Map<string, PhaseRun>[]): void {
  const of = (key: string, pick: (run: PhaseRun) => number) =>
    median(repetitions.map((runs) => (runs.get(key) ? pick(runs.get(key) as PhaseRun) : Number.NaN)));
  for (const phase of PHASES) {
    for (const tool of TOOLS) {
      const key = `${phase}/${tool}`;
      const ms = of(key, (run) => run.ms);
      const serverMs = of(key, (run) => run.serverMs);
      const base = `${phase}/imapfilter`;
      console.log(
        [
          String(size).padEnd(8),
          phase.padEnd(11),
          tool.padEnd(10),
          ms.toFixed(0).padStart(7),
          serverMs.toFixed(0).padStart(10),
          of(key, (run) => run.clientMs)
            .toFixed(0)
            .padStart(10),
          String(repetitions[0]?.get(key)?.commands ?? '-').padStart(9),
          (ms / of(base, (run) => run.ms)).toFixed(2).padStart(13),
          (
            serverMs /
            Math.max(
              of(base, (run) => run.serverMs),
              TICK_MS,
            )
          )
            .toFixed(2)
            .padStart(14),
        ].join('  '),
      );
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { sizes, repetitions } = benchSettings();
  const dovecot = await startDovecot({ maxLineLength: '16M' });
  let void_ = false;
  try {
    console.log(
      `\nScheduled runs: bench/rules/*.yaml three times on one mailbox per tool, median of ${repetitions}, Dovecot on 127.0.0.1`,
    );
    console.log(
      'messages  phase        tool        wall ms  server ms  client ms  IMAP cmds  wall vs imapf  server vs imapf',
    );
    for (const size of sizes) {
      const all: Map<string, PhaseRun>[] = [];
      for (let rep = 0; rep < repetitions; rep++) {
        // A rotating order, so a slow moment of the machine does not land on one tool only.
        const order = TOOLS.map((_, index) => TOOLS[(index + rep) % TOOLS.length] as Tool);
        const { runs, mismatches } = await runPhases(dovecot, size, order);
        all.push(runs);
        if (mismatches > 0) void_ = true;
      }
      report(size, all);
      console.log(
        void_
          ? 'VOID: the tools left different end states'
          : `end state check: after every phase of all ${repetitions} repetitions the three tools left the same ${size} messages in the same folders with the same flags`,
      );
    }
    // mailsift's floor: start, TLS, login, the same rules on an empty mailbox (a second run: incremental), logout.
    const empty = await freshUser(dovecot, []);
    await runToolOn('mailsift', dovecot, empty);
    const floors: number[] = [];
    for (let rep = 0; rep < 5; rep++) floors.push((await runToolOn('mailsift', dovecot, empty)).ms);
    console.log(
      `floor: mailsift on an empty mailbox, nothing new, median of 5: ${median(floors).toFixed(0)} ms`,
    );
  } finally {
    await dovecot.stop();
  }
  if (void_) process.exitCode = 1;
}
