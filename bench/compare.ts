/**
 * mailsift against imapfilter and against doveadm (server-side, no network: the floor), doing the same work —
 * bench/rules/*.yaml, bench/imapfilter.lua and DOVEADM_STEPS below — on the same generated mailbox, each run on
 * a fresh copy. After each tool, the end state (folder, flags and keywords of every message) must equal the
 * others'; a comparison whose tools did different work is reported void.
 *
 *   node --import tsx bench/compare.ts            # 10,000 messages
 *   BENCH_LARGE=1 node --import tsx bench/compare.ts   # and 50,000
 */
import { execFile as execFileCallback } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startDovecot, type TestDovecot } from '../test/helpers/dovecot.ts';
import { type RealisticMessage, realisticMailbox } from '../test/helpers/realistic-mailbox.ts';

const execFile = promisify(execFileCallback);

/** The benchmark's rules as doveadm commands: the same selections, done inside the server. */
const DOVEADM_STEPS: readonly { command: string[]; args: string[] }[] = [
  {
    command: ['flags', 'add'],
    args: ['$Invoice', 'mailbox', 'INBOX', 'from', 'billing@', 'subject', 'invoice'],
  },
  {
    command: ['move'],
    args: ['Finance/Invoices', 'mailbox', 'INBOX', 'from', 'billing@', 'subject', 'invoice'],
  },
  {
    command: ['flags', 'add'],
    args: ['\\Flagged', 'mailbox', 'INBOX', 'from', 'monitoring@', 'subject', '[ALERT]', 'unseen'],
  },
  {
    command: ['move'],
    args: ['Trash', 'mailbox', 'INBOX', 'header', 'List-Unsubscribe', '', 'before', '30d'],
  },
];

export type Tool = 'mailsift' | 'imapfilter' | 'doveadm';

export interface ToolRun {
  readonly ms: number;
  /** IMAP commands the client sent (null for doveadm, which speaks no IMAP). */
  readonly commands: number | null;
  /** Peak RSS of the client process, KB (GNU time %M; for doveadm, the largest of its processes). */
  readonly peakRssKb: number;
  /** CPU of the client process, user + system, ms (GNU time %U %S; for doveadm, all its processes). */
  readonly clientCpuMs: number;
  /** message-id → "mailbox flags" after the run. */
  readonly endState: Map<string, string>;
}

/** Runs a command under GNU time; returns its wall time and peak RSS. */
async function timed(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ ms: number; peakRssKb: number; clientCpuMs: number; stdout: string }> {
  const started = performance.now();
  const { stdout, stderr } = await execFile(
    '/usr/bin/time',
    ['-f', 'MAXRSS=%M CPU=%U+%S', command, ...args],
    {
      env,
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  const ms = performance.now() - started;
  const peakRssKb = Number(/MAXRSS=(\d+)/.exec(stderr)?.[1] ?? Number.NaN);
  const cpu = /CPU=([\d.]+)\+([\d.]+)/.exec(stderr);
  const clientCpuMs = cpu ? (Number(cpu[1]) + Number(cpu[2])) * 1000 : Number.NaN;
  return { ms, peakRssKb, clientCpuMs, stdout };
}

async function endStateOf(dovecot: TestDovecot, user: string): Promise<Map<string, string>> {
  const state = new Map<string, string>();
  for (const [mailbox, messages] of await dovecot.mailboxState(user)) {
    for (const message of messages) {
      state.set(
        message.messageId,
        `${mailbox} ${message.flags.filter((flag) => flag !== '\\Recent').join(' ')}`,
      );
    }
  }
  return state;
}

/** A fresh user holding `messages` in INBOX and empty Finance/Invoices and Trash, indexed by Dovecot. */
export async function freshUser(
  dovecot: TestDovecot,
  messages: readonly RealisticMessage[],
): Promise<string> {
  const user = dovecot.addUser();
  dovecot.seed(user, 'INBOX', messages);
  dovecot.seed(user, 'Finance/Invoices', []);
  dovecot.seed(user, 'Trash', []);
  // Every tool starts from an indexed mailbox, so none pays for Dovecot's first scan.
  await dovecot.doveadm('mailbox', 'status', '-u', user, 'messages', 'INBOX');
  return user;
}

export async function runTool(
  tool: Tool,
  dovecot: TestDovecot,
  messages: readonly RealisticMessage[],
): Promise<ToolRun> {
  return await runToolOn(tool, dovecot, await freshUser(dovecot, messages));
}

/** Runs `tool` once on `user`'s mailbox as it is (the same user again: a scheduled tool's next run). */
export async function runToolOn(tool: Tool, dovecot: TestDovecot, user: string): Promise<ToolRun> {
  const env = { ...process.env, HOME: dovecot.dir };
  if (tool === 'mailsift') {
    const accounts = join(dovecot.dir, `accounts-${user}.yaml`);
    writeFileSync(
      accounts,
      `bench: { host: 127.0.0.1, port: ${dovecot.imapsPort}, user: ${user}, password: secret, ca: ${dovecot.certificateFile} }\n`,
    );
    const run = await timed(
      'node',
      [
        'bin/mailsift.js',
        'run',
        'bench/rules',
        '--json',
        '--accounts',
        accounts,
        // Extra arguments, for A/B runs (e.g. BENCH_MAILSIFT_ARGS=--no-lease).
        ...(process.env.BENCH_MAILSIFT_ARGS?.split(' ').filter(Boolean) ?? []),
      ],
      env,
    );
    const summaries = run.stdout
      .trim()
      .split('\n')
      .map(
        (line) => JSON.parse(line) as { imapCommands: number; error?: string; rules: { error?: string }[] },
      );
    const failure = summaries.flatMap((s) => [s.error, ...s.rules.map((r) => r.error)]).find(Boolean);
    if (failure) throw new Error(`mailsift failed: ${failure}`);
    const commands = summaries.reduce((sum, s) => sum + s.imapCommands, 0);
    return { ...measured(run), commands, endState: await endStateOf(dovecot, user) };
  }
  if (tool === 'imapfilter') {
    const debug = join(dovecot.dir, `imapfilter-${user}.debug`);
    const run = await timed(
      'imapfilter',
      ['-c', 'bench/imapfilter.lua', '-t', dovecot.certificateFile, '-d', debug],
      {
        ...env,
        MAILSIFT_BENCH_PORT: String(dovecot.imapsPort),
        MAILSIFT_BENCH_USER: user,
        MAILSIFT_BENCH_PASSWORD: 'secret',
      },
    );
    // The debug file logs each client command as "<tag> COMMAND …" and each reply as "<tag> OK|NO|BAD …".
    const commands = readFileSync(debug, 'latin1')
      .split('\n')
      .filter((line) => /^[0-9A-F]{4} (?!OK |NO |BAD )[A-Z]/.test(line)).length;
    return { ...measured(run), commands, endState: await endStateOf(dovecot, user) };
  }
  let ms = 0;
  let peakRssKb = 0;
  let clientCpuMs = 0;
  for (const step of DOVEADM_STEPS) {
    const run = await timed(
      'doveadm',
      ['-c', dovecot.configFile, ...step.command, '-u', user, ...step.args],
      env,
    );
    ms += run.ms;
    peakRssKb = Math.max(peakRssKb, run.peakRssKb);
    clientCpuMs += run.clientCpuMs;
  }
  return { ms, commands: null, peakRssKb, clientCpuMs, endState: await endStateOf(dovecot, user) };
}

function measured(run: { ms: number; peakRssKb: number; clientCpuMs: number }) {
  return { ms: run.ms, peakRssKb: run.peakRssKb, clientCpuMs: run.clientCpuMs };
}

/** Messages whose end state differs between two runs (by message-id). */
export function differences(a: Map<string, string>, b: Map<string, string>): string[] {
  const ids = new Set([...a.keys(), ...b.keys()]);
  return [...ids].filter((id) => a.get(id) !== b.get(id)).map((id) => `${id}: ${a.get(id)} / ${b.get(id)}`);
}

export interface Comparison {
  readonly messages: number;
  readonly runs: Record<Tool, ToolRun[]>;
  /** Empty when all tools left the same end state. */
  readonly mismatches: string[];
}

export async function compareTools(
  dovecot: TestDovecot,
  count: number,
  repetitions: number,
): Promise<Comparison> {
  const messages = realisticMailbox(count);
  const runs: Record<Tool, ToolRun[]> = { mailsift: [], imapfilter: [], doveadm: [] };
  // The first run against a freshly started Dovecot is about 2 s slower whichever tool it is: warm up untimed.
  await runTool('doveadm', dovecot, messages);
  // Interleaved, and in a rotating order, so a slow moment of the machine does not land on one tool only.
  const tools = ['mailsift', 'imapfilter', 'doveadm'] as const;
  for (let rep = 0; rep < repetitions; rep++) {
    for (let i = 0; i < tools.length; i++) {
      const tool = tools[(rep + i) % tools.length] as Tool;
      runs[tool].push(await runTool(tool, dovecot, messages));
    }
  }
  const reference = runs.doveadm[0]?.endState ?? new Map();
  const mismatches = (['mailsift', 'imapfilter', 'doveadm'] as const).flatMap((tool) =>
    runs[tool].flatMap((run) => differences(run.endState, reference).map((line) => `${tool}: ${line}`)),
  );
  return { messages: count, runs, mismatches };
}

export const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

/** The sizes (BENCH_MESSAGES, and 50,000 with BENCH_LARGE) and the repetitions (BENCH_REPETITIONS) to run. */
export function benchSettings(): { sizes: number[]; repetitions: number } {
  return {
    sizes: [Number(process.env.BENCH_MESSAGES ?? 10_000), ...(process.env.BENCH_LARGE ? [50_000] : [])],
    repetitions: Number(process.env.BENCH_REPETITIONS ?? 3),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { sizes, repetitions } = benchSettings();
  // imapfilter sends each UID set as one line; for 50,000 messages that passes Dovecot's default 64 KB line
  // limit and its run fails. A raised limit lets it do the work (mailsift's lines stay short either way).
  const dovecot = await startDovecot({ maxLineLength: '16M' });
  let void_ = false;
  try {
    console.log(
      `\nmailsift vs imapfilter vs doveadm: bench/rules/*.yaml, median of ${repetitions} runs, Dovecot on 127.0.0.1 (TLS for the IMAP clients)`,
    );
    console.log('messages  tool        wall ms  IMAP cmds  peak RSS MB  vs imapfilter  vs doveadm');
    for (const size of sizes) {
      const comparison = await compareTools(dovecot, size, repetitions);
      const ms = (tool: Tool) => median(comparison.runs[tool].map((run) => run.ms));
      for (const tool of ['mailsift', 'imapfilter', 'doveadm'] as const) {
        const first = comparison.runs[tool][0];
        console.log(
          [
            String(size).padEnd(8),
            tool.padEnd(10),
            ms(tool).toFixed(0).padStart(7),
            String(first?.commands ?? '-').padStart(9),
            ((first?.peakRssKb ?? 0) / 1024).toFixed(0).padStart(11),
            (ms(tool) / ms('imapfilter')).toFixed(2).padStart(13),
            (ms(tool) / ms('doveadm')).toFixed(2).padStart(10),
          ].join('  '),
        );
      }
      if (comparison.mismatches.length > 0) {
        void_ = true;
        console.log(
          `VOID: the tools left different end states (${comparison.mismatches.length}), e.g.\n  ${comparison.mismatches.slice(0, 5).join('\n  ')}`,
        );
      } else {
        console.log(
          `end state check: all ${comparison.runs.mailsift.length * 3} runs left the same ${size} messages in the same folders with the same flags`,
        );
      }
    }
  } finally {
    await dovecot.stop();
  }
  if (void_) process.exitCode = 1;
}
