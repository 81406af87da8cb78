/**
 * Connections cut at every command boundary of a run, and state writes cut at every write (file and DynamoDB),
 * for every action type: nothing matched is lost, nothing unmatched is touched, and a second run converges to
 * the end state of an undisturbed run.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { runRuleset } from '../../functions/engine/run.ts';
import { expandUidSet } from '../../functions/imap/uid-set.ts';
import type { Ruleset } from '../../functions/rules/schema.ts';
import { DynamoDbStateStore } from '../../functions/state/dynamodb-store.ts';
import { accountScope, type StateStore } from '../../functions/state/store.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.ts';
import { type Fault, startFaultProxy } from '../helpers/fault-proxy.ts';
import { FaultyStateStore, type StateCut } from '../helpers/faulty-store.ts';
import { makeMail } from '../helpers/mail.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';
import { rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';

/** Where these runs keep their state: one real file store for the whole file. */
const stateStore = testState();

const FAST = { connectMs: 2000, greetingMs: 2000, socketMs: 2000 };

/** Three alerts the rules match; three messages they must leave alone (one another client deleted). */
const SEED = [
  { id: 'alert1', from: 'alerts@ops.test', flags: '' },
  { id: 'alert2', from: 'alerts@ops.test', flags: 'S' },
  { id: 'keep1', from: 'person@home.test', flags: '' },
  { id: 'alert3', from: 'alerts@ops.test', flags: 'F' },
  { id: 'keep2', from: 'alerts@ops.test', flags: 'T' }, // \Deleted elsewhere: the rule skips it
  { id: 'keep3', from: 'person@home.test', flags: 'S' },
];
const MATCHED = ['alert1', 'alert2', 'alert3'];
const UNMATCHED = ['keep1', 'keep2', 'keep3'];

interface Server {
  readonly dovecot: TestDovecot;
  readonly tls: { cert: string; key: string };
}

/** Cut runs going on at once, each through a proxy of its own. */
const CONCURRENT_RUNS = 4;
let withMove: Server;
let withoutMove: Server;
let receiver: Receiver;

async function startServer(withoutCapabilities: string[]): Promise<Server> {
  const dovecot = await startDovecot({ withoutCapabilities });
  return { dovecot, tls: { cert: dovecot.certificate, key: readFileSync(dovecot.keyFile, 'utf8') } };
}

let dynamo: TestDynamo;

before(async () => {
  [withMove, withoutMove, receiver, dynamo] = await Promise.all([
    startServer([]),
    startServer(['MOVE']),
    startReceiver(),
    startDynalite(),
  ]);
});
after(async () => {
  await receiver?.close();
  await dynamo?.stop();
  for (const server of [withMove, withoutMove]) await server?.dovecot.stop();
});

/** A fresh user holding SEED in INBOX. */
function freshUser(server: Server): string {
  const user = server.dovecot.addUser();
  server.dovecot.seed(
    user,
    'INBOX',
    SEED.map((message) => ({
      raw: makeMail({ messageId: message.id, from: message.from, subject: `about ${message.id}`, text: 'x' }),
      flags: message.flags,
    })),
  );
  return user;
}

/** message id → where each copy is, e.g. `INBOX \Seen $Done` (sorted: a duplicate shows twice). */
async function endState(server: Server, user: string): Promise<Map<string, string[]>> {
  const state = new Map<string, string[]>();
  for (const [mailbox, messages] of await server.dovecot.mailboxState(user)) {
    for (const message of messages) {
      const id = message.messageId.replace(/^<(.*)@test>$/, '$1');
      const flags = message.flags.filter((flag) => flag !== '\\Recent');
      state.set(id, [...(state.get(id) ?? []), [mailbox, ...flags].join(' ')].sort());
    }
  }
  return state;
}

async function run(
  server: Server,
  user: string,
  ruleset: Ruleset,
  fault: Fault,
  state: StateStore = stateStore,
) {
  const proxy = await startFaultProxy({ target: server.dovecot.imapPort, tls: server.tls });
  try {
    proxy.arm(fault);
    const account = { ...server.dovecot.account(user), port: proxy.port };
    const summary = await runRuleset(ruleset, account, { state, dryRun: false, timeouts: FAST });
    return {
      summary,
      commands: [...proxy.commands()],
      statuses: [...proxy.statuses()],
      struck: proxy.struck(),
    };
  } finally {
    await proxy.close();
  }
}

/** Runs `work` over `items`, `size` at a time. */
async function inPool<T>(items: readonly T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: size }, worker));
}

interface Scenario {
  readonly name: string;
  readonly server: () => Server;
  /** The rules; `URL` stands for the webhook receiver's address. */
  readonly rules: string;
  /** The matched messages may be gone after a run (the action deletes them for good). */
  readonly removesForGood?: boolean;
}

type Cut = Extract<Fault, { kind: 'cut' }>;

/** The commands the server executed before the cut (the struck one too when it was answered). */
function executedBefore(commands: readonly string[], cut: Cut): readonly string[] {
  return commands.slice(0, cut.when === 'answered' ? cut.at : cut.at - 1);
}

const SCENARIOS: Scenario[] = [
  {
    name: 'addFlags',
    server: () => withMove,
    rules: `  - { name: flag, match: { from: alerts@ }, actions: [{ addFlags: ['\\Flagged', $Done] }] }\n`,
  },
  {
    name: 'moveTo with MOVE',
    server: () => withMove,
    rules: `  - { name: file, match: { from: alerts@ }, actions: [{ moveTo: Archive }] }\n`,
  },
  {
    name: 'moveTo without MOVE (COPY, STORE, UID EXPUNGE)',
    server: () => withoutMove,
    rules: `  - { name: file, match: { from: alerts@ }, actions: [{ moveTo: Archive }] }\n`,
  },
  {
    name: 'copyTo, then a keyword so that the rule copies once',
    server: () => withMove,
    rules:
      '  - { name: keep, match: { from: alerts@, notKeyword: $Copied }, ' +
      'actions: [{ copyTo: Archive }, { addFlags: [$Copied] }] }\n',
  },
  {
    name: 'delete: trash',
    server: () => withMove,
    rules: `  - { name: bin, match: { from: alerts@ }, actions: [{ delete: trash }] }\n`,
  },
  {
    name: 'delete: expunge',
    server: () => withMove,
    rules: `  - { name: purge, match: { from: alerts@ }, actions: [{ delete: expunge }] }\n`,
    removesForGood: true,
  },
  {
    name: 'webhook, then \\Seen',
    server: () => withMove,
    rules:
      "  - { name: fwd, match: { from: alerts@ }, actions: [{ webhook: { url: 'URL', attempts: 1 } }, " +
      "{ addFlags: ['\\Seen'] }] }\n",
  },
  {
    name: 'webhook, then moveTo',
    server: () => withMove,
    rules:
      "  - { name: fwd, match: { from: alerts@ }, actions: [{ webhook: { url: 'URL', attempts: 1 } }, " +
      '{ moveTo: Archive }] }\n',
  },
];

/** After a cut: every message no rule matched is as seeded, and no matched message is gone (unless expunged). */
function assertNothingLost(
  where: string,
  scenario: Scenario,
  seeded: Map<string, string[]>,
  afterCut: Map<string, string[]>,
): void {
  for (const id of UNMATCHED) assert.deepEqual(afterCut.get(id), seeded.get(id), `${where}: ${id} untouched`);
  if (scenario.removesForGood) return;
  for (const id of MATCHED) assert.ok((afterCut.get(id) ?? []).length >= 1, `${where}: ${id} still exists`);
}

/**
 * Webhooks, connection cuts: every matched message was posted, and once only. The delivery record is written in
 * the state store right after each 2xx, before the keyword STORE, so no IMAP cut opens the window for a second
 * POST (it opened when the keyword was the only record).
 */
function assertPostedOnce(where: string, all: number[]) {
  const counts = new Map<number, number>();
  for (const uid of all) counts.set(uid, (counts.get(uid) ?? 0) + 1);
  assert.equal(counts.size, MATCHED.length, `${where}: every alert posted`);
  for (const [uid, count] of counts) assert.equal(count, 1, `${where}: uid ${uid} posted ${count} times`);
}

describe('a connection cut at every command boundary', () => {
  for (const scenario of SCENARIOS) {
    it(`${scenario.name}: loses nothing, touches nothing unmatched, and a rerun converges`, async (t) => {
      const server = scenario.server();
      // Each run posts to a receiver of its own, so that posts are counted per run.
      const rulesetFor = (posts: Receiver) =>
        rulesetOf(`rules:\n${scenario.rules.replace('URL', posts.url)}`);

      const referenceUser = freshUser(server);
      const reference = await run(server, referenceUser, rulesetFor(receiver), { kind: 'none' });
      assert.equal(reference.summary.rules[0]?.error, undefined, reference.summary.rules[0]?.error);
      const referenceState = await endState(server, referenceUser);
      // The rules are idempotent: a second undisturbed run changes nothing.
      await run(server, referenceUser, rulesetFor(receiver), { kind: 'none' });
      assert.deepEqual(await endState(server, referenceUser), referenceState);
      const seeded = await endState(server, freshUser(server));

      // LOGOUT comes after all the work: a lost goodbye does not fail the run.
      const logoutAt = reference.commands.findLastIndex((line) => / LOGOUT$/.test(line)) + 1;
      assert.ok(logoutAt > 0, 'the run logs out');
      const cuts = Array.from({ length: reference.commands.length }, (_, i) =>
        (['before', 'answered'] as const).map((when): Cut => ({ kind: 'cut', at: i + 1, when })),
      ).flat();
      t.diagnostic(`${reference.commands.length} commands, ${cuts.length} cut runs`);
      // Cuts right after the server executed a COPY: the source is not marked yet, and the rerun must not copy
      // again.
      let copyWindows = 0;
      await inPool(cuts, CONCURRENT_RUNS, async (fault) => {
        const user = freshUser(server);
        const posts = await startReceiver();
        try {
          const ruleset = rulesetFor(posts);
          const cut = await run(server, user, ruleset, fault);
          const where = `cut ${fault.when} command ${fault.at} (${cut.struck})`;
          assert.ok(cut.struck, `${where}: the fault struck`);
          // A cut at LOGOUT comes after all the work: by design it does not fail a run.
          const failed = cut.summary.error ?? cut.summary.rules[0]?.error;
          if (fault.at < logoutAt) assert.ok(failed, `${where}: the run reports the failure`);

          assertNothingLost(where, scenario, seeded, await endState(server, user));

          const rerun = await run(server, user, ruleset, { kind: 'none' });
          assert.equal(
            rerun.summary.rules[0]?.error,
            undefined,
            `${where}: rerun ${rerun.summary.rules[0]?.error}`,
          );
          const executed = executedBefore(cut.commands, fault);
          if (/ UID COPY /.test(executed.at(-1) ?? '') && cut.statuses[executed.length - 1] === 'OK') {
            copyWindows++;
          }
          // Exactly, a cut right after the server executed a COPY included: the copy journal keeps the rerun
          // from copying again.
          assert.deepEqual(await endState(server, user), referenceState, `${where}: converges`);
          if (scenario.rules.includes('webhook')) {
            const all = posts.payloads().map((payload) => Number(payload.uid));
            assertPostedOnce(where, all);
          }
        } finally {
          await posts.close();
        }
      });
      t.diagnostic(`${copyWindows} cuts right after an executed UID COPY`);
      if (reference.commands.some((line) => / UID COPY /.test(line))) assert.ok(copyWindows > 0);
    });
  }
});

/** The state backends the write cuts run against: files, and DynamoDB through the real SDK client. */
const STATE_BACKENDS: { name: string; make: () => Promise<StateStore> }[] = [
  { name: 'file', make: async () => testState() },
  {
    name: 'DynamoDB',
    make: async () => new DynamoDbStateStore(dynamo.client, await dynamo.createStateTable()),
  },
];

/** UIDs in the durable delivery records of `user` after a cut: a message posted but not in them may be posted again. */
async function recordedDeliveries(state: StateStore, server: Server, user: string): Promise<Set<number>> {
  const scope = accountScope(server.dovecot.account(user));
  const records = await state.list<{ uids: string }>(`${scope}/deliveries/`);
  return new Set(records.flatMap((record) => expandUidSet(record.value.uids)));
}

describe('a state write cut at every point (file and DynamoDB)', () => {
  for (const backend of STATE_BACKENDS) {
    for (const scenario of SCENARIOS) {
      it(`${backend.name}, ${scenario.name}: loses nothing, touches nothing unmatched, and a rerun converges`, async (t) => {
        const server = scenario.server();
        const ruleset = rulesetOf(`rules:\n${scenario.rules.replace('URL', receiver.url)}`);
        const counting = new FaultyStateStore(await backend.make());
        const referenceUser = freshUser(server);
        const reference = await run(server, referenceUser, ruleset, { kind: 'none' }, counting);
        assert.equal(reference.summary.rules[0]?.error, undefined, reference.summary.rules[0]?.error);
        const referenceState = await endState(server, referenceUser);
        const seeded = await endState(server, freshUser(server));
        const cuts = counting.writes.flatMap((_, i) =>
          (['before', 'after'] as const).map((when): StateCut => ({ at: i + 1, when })),
        );
        t.diagnostic(
          `${counting.writes.length} state writes (${counting.writes.map((w) => w.split(' ')[0]).join(', ')}), ${cuts.length} cut runs`,
        );
        assert.ok(counting.writes.length >= 2, 'the run takes and gives up its lease');
        await inPool(cuts, CONCURRENT_RUNS, async (cut) => {
          const user = freshUser(server);
          const state = await backend.make();
          const posts = await startReceiver();
          try {
            const rulesetHere = rulesetOf(`rules:\n${scenario.rules.replace('URL', posts.url)}`);
            const faulty = new FaultyStateStore(state, cut);
            await run(server, user, rulesetHere, { kind: 'none' }, faulty);
            const where = `${cut.when} state write ${cut.at} (${faulty.writes[cut.at - 1]})`;
            assert.ok(faulty.struck, `${where}: the cut struck`);
            assertNothingLost(where, scenario, seeded, await endState(server, user));
            const cutPosts = posts.payloads().map((payload) => Number(payload.uid));
            const recorded = await recordedDeliveries(state, server, user);
            const rerun = await run(server, user, rulesetHere, { kind: 'none' }, state);
            assert.equal(
              rerun.summary.rules[0]?.error,
              undefined,
              `${where}: rerun ${rerun.summary.rules[0]?.error ?? rerun.summary.error}`,
            );
            assert.deepEqual(await endState(server, user), referenceState, `${where}: converges`);
            if (scenario.rules.includes('webhook')) {
              const all = posts.payloads().map((payload) => Number(payload.uid));
              for (const id of new Set(all)) {
                const count = all.filter((uid) => uid === id).length;
                // The one window: a 2xx whose delivery record write was cut (before it, the keyword comes after).
                const inWindow = cutPosts.includes(id) && !recorded.has(id);
                assert.ok(count <= (inWindow ? 2 : 1), `${where}: uid ${id} posted ${count} times`);
              }
              assert.equal(new Set(all).size, MATCHED.length, `${where}: every alert posted`);
            }
          } finally {
            await posts.close();
          }
        });
      });
    }
  }
});

describe('a server that stalls or drops the connection', () => {
  /** The 1-based number of the first command of an undisturbed run whose line matches `pattern`. */
  async function commandNumber(ruleset: Ruleset, pattern: RegExp): Promise<number> {
    const { commands } = await run(withMove, freshUser(withMove), ruleset, { kind: 'none' });
    const index = commands.findIndex((line) => pattern.test(line));
    assert.ok(index >= 0, `no command matches ${pattern}: ${commands.join(' | ')}`);
    return index + 1;
  }
  // A client-side check makes the rule FETCH.
  const RULESET = rulesetOf(`rules:
  - { name: flag, match: { from: alerts@, subjectMatches: about }, actions: [{ addFlags: [$Done] }] }
`);

  it('fails within the socket timeout, with a clear error, when the server stops answering mid-run', async () => {
    const at = await commandNumber(RULESET, / UID SEARCH /);
    const started = Date.now();
    const { summary } = await run(withMove, freshUser(withMove), RULESET, { kind: 'stall', at });
    const elapsed = Date.now() - started;
    assert.equal(summary.rules[0]?.errorType, 'ImapConnectError');
    assert.match(
      summary.rules[0]?.error ?? '',
      /connection lost during UID SEARCH|did not answer|timed? ?out/i,
    );
    // FAST.socketMs is 2 s: well under the 60 s default and imapflow's own 5 minutes.
    assert.ok(elapsed < FAST.socketMs + 3000, `took ${elapsed} ms`);
  });

  for (const [name, pattern, where] of [
    ['LOGIN', /^\S+ (AUTHENTICATE|LOGIN) /, 'summary'],
    ['SELECT', /^\S+ SELECT INBOX$/, 'rule'],
    ['FETCH', / UID FETCH /, 'rule'],
  ] as const) {
    it(`reports a connection closed during ${name} as a typed error in the summary`, async () => {
      const at = await commandNumber(RULESET, pattern);
      const user = freshUser(withMove);
      const before = await endState(withMove, user);
      const { summary } = await run(withMove, user, RULESET, { kind: 'cut', at, when: 'before' });
      const failure = where === 'summary' ? summary : summary.rules[0];
      assert.equal(failure?.errorType, 'ImapConnectError', JSON.stringify(summary));
      assert.ok(failure?.error);
      assert.deepEqual(await endState(withMove, user), before, 'nothing changed');
    });
  }
});

describe('two runs of one ruleset at the same moment', () => {
  /** Rounds per case: the two runs race differently each time. */
  const ROUNDS = 5;

  /**
   * Starts two runs at once, ROUNDS times, each on a fresh user: the end state must equal one undisturbed run's.
   * Without the account lease this failed on Dovecot even with MOVE: both runs' UID MOVE of one message
   * succeeded, leaving two copies in Archive.
   */
  async function raceTwoRuns(server: Server, rules: string) {
    const single = freshUser(server);
    const reference = await startReceiver();
    try {
      await run(server, single, rulesetOf(`rules:\n${rules.replace('URL', reference.url)}`), {
        kind: 'none',
      });
    } finally {
      await reference.close();
    }
    const expected = await endState(server, single);
    for (let round = 1; round <= ROUNDS; round++) {
      const user = freshUser(server);
      const account = server.dovecot.account(user);
      const posts = await startReceiver();
      try {
        const ruleset = rulesetOf(`rules:\n${rules.replace('URL', posts.url)}`);
        const summaries = await Promise.all([
          runRuleset(ruleset, account, { state: stateStore, dryRun: false, timeouts: FAST }),
          runRuleset(ruleset, account, { state: stateStore, dryRun: false, timeouts: FAST }),
        ]);
        for (const summary of summaries) {
          assert.equal(summary.error, undefined, `round ${round}: ${summary.error}`);
          for (const rule of summary.rules)
            assert.equal(rule.error, undefined, `${rule.name}: ${rule.error}`);
        }
        // Either the second run found the account busy, or it started after the first had finished.
        const worked = summaries.filter((summary) => summary.busy === undefined);
        assert.ok(worked.length >= 1, `round ${round}: one run worked`);
        assert.deepEqual(await endState(server, user), expected, `round ${round}: the state of one run`);
        if (rules.includes('webhook')) {
          const uids = posts.payloads().map((payload) => Number(payload.uid));
          assert.equal(uids.length, new Set(uids).size, `round ${round}: posted once each: ${uids}`);
          assert.equal(uids.length, MATCHED.length, `round ${round}: every alert posted`);
        }
      } finally {
        await posts.close();
      }
    }
  }

  it('end in the state of one run: flags, a move and an expunge, on a server with MOVE', async () => {
    await raceTwoRuns(
      withMove,
      `  - { name: file, match: { from: alerts@ }, actions: [{ addFlags: [$Filed] }, { moveTo: Archive }] }
  - { name: purge, match: { from: person@, seen: true }, actions: [{ delete: expunge }] }
`,
    );
  });

  it('end in the state of one run: copyTo and a move by COPY, on a server without MOVE', async () => {
    await raceTwoRuns(
      withoutMove,
      `  - { name: keep, match: { from: alerts@, notKeyword: $Copied }, actions: [{ copyTo: Copies }, { addFlags: [$Copied] }] }
  - { name: file, match: { from: alerts@ }, actions: [{ moveTo: Archive }] }
`,
    );
  });

  it('post each webhook message once, then file it', async () => {
    await raceTwoRuns(
      withMove,
      "  - { name: fwd, match: { from: alerts@ }, actions: [{ webhook: { url: 'URL', attempts: 1 } }, { moveTo: Archive }] }\n",
    );
  });
});
