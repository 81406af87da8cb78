/**
 * The contract of incremental runs, checked against full scans on random mailbox histories: two users of a real
 * Dovecot live through the same history (new mail, another client changing flags and keywords, moving messages
 * out and back, expunging, time passing, the mailbox deleted and created again or restored from a backup, the rules
 * edited); at each run
 * one runs incrementally, the other with --full, and afterwards both mailboxes and both acted counts must agree.
 * Seeded with fast-check; the seed is printed, and MAILSIFT_FC_SEED replays one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import fc from 'fast-check';
import { type RulesetSummary, type RunOptions, runRulesets } from '../../functions/engine/run.ts';
import type { ImapAccount } from '../../functions/imap/session.ts';
import type { Ruleset } from '../../functions/rules/schema.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { type FaultProxy, startFaultProxyFor } from '../helpers/fault-proxy.ts';
import { makeMail } from '../helpers/mail.ts';
import { type OtherClient, otherClient } from '../helpers/other-client.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';
import { rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';

/** Bounded in count and in time for CI; each history runs a handful of real runs per user. */
const LIMITS = { numRuns: 25, interruptAfterTimeLimit: 45_000 };
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
/** The rules' mailbox: not INBOX, which cannot be deleted and created again. */
const WORK = 'Work';
const ELSEWHERE = ['Other', 'Archive', 'Old'] as const;

/**
 * The account's two rulesets. The second runs on a mailbox the first already selected (and changed: it reads
 * the $Aged the first one sets), and interleaves: a rule on Other moves mail into Work between two rules on Work.
 */
function rulesets(variant: 0 | 1, webhook: string, cuts: boolean): Ruleset[] {
  // Where runs are cut, a cut run and its rerun are two runs: a limit acts twice, and mail the second ruleset
  // moves in after the first ruleset ran is acted on by the rerun's first ruleset, not the one run's.
  return cuts ? [first(variant, webhook, false)] : [first(variant, webhook, true), second(variant)];
}

function second(variant: 0 | 1): Ruleset {
  return rulesetOf(
    `
mailbox: ${WORK}
fullScanEvery: 999w
rules:
  - name: early
    match: { from: x@, seen: ${variant === 0} }
    actions: [{ addFlags: [$Early] }]
  - name: from-other
    mailbox: Other
    match: { from: x@ }
    actions: [{ moveTo: ${WORK} }]
  - name: late
    match: { from: x@, notKeyword: $Early, keyword: $Aged }
    actions: [{ addFlags: [$Late] }]
`,
    'differential-second',
  );
}

/** `limited`: one rule has a small `limit`. */
function first(variant: 0 | 1, webhook: string, limited: boolean): Ruleset {
  return rulesetOf(
    `
mailbox: ${WORK}
fullScanEvery: 999w
rules:
  - name: bills
    match: { from: billing@ }
    stop: true
    actions: [{ addFlags: [$Bill] }]
  - name: unread-news
    match: { from: news@, seen: false }
    limit: ${limited ? 2 + variant : 1000}
    actions: [{ addFlags: [$Unread] }]
  - name: to-archive
    match: { any: [{ flagged: true }, { keyword: $Archive }] }
    actions: [{ moveTo: Archive }]
  - name: age-out
    match: { olderThan: ${variant === 0 ? '3d' : '2d'}, notKeyword: $Keep }
    actions: [{ moveTo: Old }]
  - name: stale
    match: { from: anna@, not: { newerThan: 1d } }
    actions: [{ addFlags: [$Stale] }]
  - name: settled
    match: { from: news@, olderThan: 2m }
    actions: [{ addFlags: [$Settled] }]
  - name: age-x
    match: { from: x@, olderThan: 1d }
    actions: [{ addFlags: [$Aged] }]
  - name: alerts
    match: { from: alerts@ }
    actions: [{ webhook: { url: '${webhook}', attempts: 1 } }, { addFlags: [\\Seen] }]
`,
    'differential',
  );
}

const SENDERS = ['billing@acme.test', 'news@letters.test', 'alerts@ops.test', 'anna@example.com', 'x@y.test'];
const FLAGS = ['\\Seen', '\\Flagged', '$Archive', '$Keep'];

type Step =
  | { kind: 'deliver'; sender: number; ageMinutes: number; seen: boolean; into: number }
  | { kind: 'flag'; pick: number; flag: number; add: boolean }
  | { kind: 'moveOut'; pick: number; to: number }
  | { kind: 'moveBack'; pick: number; from: number }
  | { kind: 'expunge'; pick: number }
  | { kind: 'advance'; minutes: number }
  | { kind: 'recreate' }
  | { kind: 'restore' }
  | { kind: 'edit' }
  | { kind: 'run' }
  | { kind: 'cut'; at: number; answered: boolean };

const pick = fc.nat({ max: 1000 });
const STEP: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('deliver' as const),
      sender: fc.nat({ max: 4 }),
      ageMinutes: fc.nat({ max: 5 * 24 * 60 }),
      seen: fc.boolean(),
      into: fc.nat({ max: 3 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('flag' as const),
      pick,
      flag: fc.nat({ max: 3 }),
      add: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('moveOut' as const), pick, to: fc.nat({ max: 2 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('moveBack' as const), pick, from: fc.nat({ max: 2 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('expunge' as const), pick }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      minutes: fc.integer({ min: 1, max: 2 * 24 * 60 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'recreate' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'restore' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'edit' as const }) },
  { weight: 4, arbitrary: fc.constant({ kind: 'run' as const }) },
);
/** The same, with runs of the incremental twin cut by the fault proxy at its `at`-th command (then run again). */
const CUT_STEP: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: STEP },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('cut' as const),
      at: fc.integer({ min: 4, max: 40 }),
      answered: fc.boolean(),
    }),
  },
);

let dovecot: TestDovecot;
let receiver: Receiver;
let proxy: FaultProxy;
const stateStore = testState();
let history = 0;

before(async () => {
  [dovecot, receiver] = await Promise.all([startDovecot(), startReceiver()]);
  proxy = await startFaultProxyFor(dovecot);
});
after(async () => {
  await proxy?.close();
  await Promise.all([dovecot?.stop(), receiver?.close()]);
});

/** Both users' mailboxes, as Message-ID → flags per mailbox (UIDs may differ: the runs differ in their commands). */
async function endState(user: string): Promise<Record<string, Record<string, string>>> {
  const state = await dovecot.mailboxState(user);
  const shown: Record<string, Record<string, string>> = {};
  for (const [mailbox, messages] of [...state.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const flags = messages.map(
      (m) => [m.messageId, m.flags.filter((f) => f !== '\\Recent').join(' ')] as const,
    );
    if (flags.length > 0) shown[mailbox] = Object.fromEntries(flags.sort(([a], [b]) => a.localeCompare(b)));
  }
  return shown;
}

const RUN = { compareActed: true, backup: true };

/** One history, lived through by `incremental` and `full` alike. */
class Twins {
  readonly users: readonly [string, string];
  private readonly clients: OtherClient[] = [];
  private now = Date.now() - 40 * DAY;
  private variant: 0 | 1 = 0;
  private delivered = 0;
  readonly log: string[] = [];

  private readonly cuts: boolean;

  constructor(options: { readonly cuts: boolean }) {
    this.users = [dovecot.addUser(), dovecot.addUser()];
    this.cuts = options.cuts;
  }

  /** Taken before every run (see restore). */
  private backups: { restore(): void }[] = [];

  async open(): Promise<void> {
    for (const user of this.users) {
      const client = await otherClient(dovecot, user);
      for (const mailbox of [WORK, ...ELSEWHERE]) await client.create(mailbox);
      this.clients.push(client);
    }
  }

  /**
   * Both Maildirs put back as they were before the last run (a backup is taken then): the mail it filed is back,
   * with the same UIDVALIDITY, UIDNEXT and MODSEQs back.
   */
  private async restore(): Promise<void> {
    if (this.backups.length === 0) return;
    // No client may hold a mailbox open while its files are replaced.
    await this.close();
    this.clients.length = 0;
    for (const backup of this.backups) backup.restore();
    for (const user of this.users) this.clients.push(await otherClient(dovecot, user));
  }

  async close(): Promise<void> {
    for (const client of this.clients) await client.close();
  }

  async apply(step: Step): Promise<void> {
    this.log.push(JSON.stringify(step));
    if (step.kind === 'advance') this.now += step.minutes * MINUTE;
    else if (step.kind === 'edit') this.variant = this.variant === 0 ? 1 : 0;
    else if (step.kind === 'run') await this.run();
    else if (step.kind === 'cut') await this.cut(step);
    else if (step.kind === 'deliver') await this.deliver(step);
    else if (step.kind === 'restore') {
      // Restored, then run before anything else changes: a change in between can bring HIGHESTMODSEQ back up to
      // what the checkpoint knew, and no counter can tell then (docs/how-a-run-behaves.md says so).
      await this.restore();
      await this.run();
    } else await this.change(step);
  }

  private async deliver(step: Extract<Step, { kind: 'deliver' }>): Promise<void> {
    this.delivered += 1;
    const raw = makeMail({ messageId: `h${history}-${this.delivered}`, from: SENDERS[step.sender] });
    const internalDate = new Date(this.now - step.ageMinutes * MINUTE);
    // One in four lands in Other, where the second ruleset fetches x@'s mail from.
    const mailbox = step.into === 0 ? 'Other' : WORK;
    for (const client of this.clients)
      await client.deliver(mailbox, raw, { internalDate, flags: step.seen ? ['\\Seen'] : [] });
  }

  /** Another client's change, to the same message (by Message-ID) in both mailboxes. */
  private async change(
    step: Exclude<Step, { kind: 'deliver' | 'advance' | 'edit' | 'run' | 'cut' | 'restore' }>,
  ): Promise<void> {
    if (step.kind === 'recreate') {
      for (const client of this.clients) await client.recreate(WORK);
      return;
    }
    const source = step.kind === 'moveBack' ? ELSEWHERE[step.from] : WORK;
    const ids = Object.keys((await endState(this.users[0]))[source ?? WORK] ?? {});
    const id = ids[step.pick % Math.max(ids.length, 1)];
    if (!id || !source) return;
    for (const client of this.clients) {
      if (step.kind === 'flag')
        await client.flags(source, id, step.add ? 'add' : 'remove', [FLAGS[step.flag] ?? '$Keep']);
      else if (step.kind === 'moveOut') await client.move(source, id, ELSEWHERE[step.to] ?? 'Other');
      else if (step.kind === 'moveBack') await client.move(source, id, WORK);
      else await client.expunge(source, id);
    }
  }

  /** The incremental twin's run cut short (its connection dropped), then both run; end states must agree. */
  private async cut(step: Extract<Step, { kind: 'cut' }>): Promise<void> {
    // The backup is of both twins alike: before the cut run changes one of them.
    this.backups = this.users.map((user) => dovecot.snapshot(user));
    proxy.arm({ kind: 'cut', at: step.at, when: step.answered ? 'answered' : 'before' });
    await this.runFor({ ...dovecot.account(this.users[0]), port: proxy.port }, {});
    this.log.push(`  cut at: ${proxy.struck() ?? '(finished first)'}`);
    proxy.arm({ kind: 'none' });
    await this.run({ compareActed: false, backup: false });
  }

  private async runFor(account: ImapAccount, options: Partial<RunOptions>): Promise<RulesetSummary[]> {
    const jobs = rulesets(this.variant, receiver.url, this.cuts).map((ruleset) => ({ ruleset, account }));
    const base: RunOptions = { dryRun: false, state: stateStore, now: new Date(this.now) };
    return await runRulesets(jobs, { ...base, ...options }, () => {});
  }

  async run(options: { readonly compareActed: boolean; readonly backup: boolean } = RUN): Promise<void> {
    if (options.backup) this.backups = this.users.map((user) => dovecot.snapshot(user));
    const incremental = await this.runFor(dovecot.account(this.users[0]), {});
    const full = await this.runFor(dovecot.account(this.users[1]), { fullScan: true });
    for (const summary of [...incremental, ...full]) {
      assert.equal(summary.error, undefined, summary.error);
      for (const rule of summary.rules) assert.equal(rule.error, undefined, `${rule.name}: ${rule.error}`);
    }
    const acted = (summaries: RulesetSummary[]) =>
      summaries.flatMap((summary) => summary.rules.map((rule) => `${rule.name} ${rule.acted}`));
    if (options.compareActed) {
      assert.deepEqual(acted(incremental), acted(full), `acted counts after:\n${this.log.join('\n')}`);
    }
    const [a, b] = [await endState(this.users[0]), await endState(this.users[1])];
    assert.deepEqual(a, b, `end states after:\n${this.log.join('\n')}`);
    const rules = incremental.flatMap((summary) => summary.rules);
    this.log.push(`  ran: ${rules.map((rule) => `${rule.name} ${rule.scan} ${rule.acted}`).join(', ')}`);
  }
}

/** Lives through random histories made of `step`s, checking after every run; the seed is printed. */
async function checkHistories(t: TestContext, step: fc.Arbitrary<Step>, cuts: boolean, numRuns: number) {
  const seed = Number(process.env.MAILSIFT_FC_SEED ?? Date.now() % 2 ** 31);
  t.diagnostic(`fast-check seed ${seed} (replay: MAILSIFT_FC_SEED=${seed})`);
  let incrementalRuns = 0;
  let lastFailure: string | undefined;
  await fc
    .assert(
      fc.asyncProperty(fc.array(step, { minLength: 6, maxLength: 16 }), async (steps) => {
        history += 1;
        const twins = new Twins({ cuts });
        await twins.open();
        try {
          for (const each of [...steps, { kind: 'run' as const }, { kind: 'run' as const }])
            await twins.apply(each);
          incrementalRuns += twins.log.filter((line) => line.includes(' incremental ')).length;
        } catch (error) {
          // fast-check reports the shrunk history; the first failure's own words say what differed.
          lastFailure ??= error instanceof Error ? error.message : String(error);
          throw error;
        } finally {
          await twins.close();
        }
      }),
      { ...LIMITS, numRuns, seed },
    )
    .catch((error: unknown) => {
      throw new Error(`${error instanceof Error ? error.message : error}\nfirst failure: ${lastFailure}`);
    });
  // The property is worth something only if incremental scans happened.
  assert.ok(incrementalRuns > 0, 'no incremental scan in any history');
}

describe('incremental runs against full scans', () => {
  it('act on exactly the messages a full scan acts on, over random histories', async (t) => {
    await checkHistories(t, STEP, false, LIMITS.numRuns);
  });

  it('leave the same mailbox as a full scan when their runs are cut and run again', async (t) => {
    await checkHistories(t, CUT_STEP, true, 12);
  });
});
