/**
 * The integration cases that matter, on every real server (Dovecot, Cyrus in both namespace settings,
 * Courier): every match key, every action, dry runs, two runs at once on a fresh account, a wrong password,
 * and connections cut at every command of a move and of a webhook run.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { runRuleset, runRulesets } from '../../functions/engine/run.ts';
import type { Ruleset } from '../../functions/rules/schema.ts';
import { CORPUS, MATCH_CASES } from '../helpers/corpus.ts';
import { type Fault, startFaultProxy } from '../helpers/fault-proxy.ts';
import { imapState, type TestImapServer } from '../helpers/imap-server.ts';
import { makeMail } from '../helpers/mail.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';
import { idsIn, rulesetOf } from '../helpers/rulesets.ts';
import { REAL_SERVERS } from '../helpers/servers.ts';
import { testState } from '../helpers/state.ts';

const stateStore = testState();
const FAST = { connectMs: 2000, greetingMs: 2000, socketMs: 2000 };

/** message id → where each copy is, e.g. `INBOX \Seen $Done` (sorted: a duplicate shows twice). */
async function endState(server: TestImapServer, user: string): Promise<Map<string, string[]>> {
  const state = new Map<string, string[]>();
  for (const [mailbox, messages] of await imapState(server, user)) {
    for (const message of messages) {
      const id = message.messageId.replace(/^<(.*)@test>$/, '$1');
      const flags = message.flags.filter((flag) => flag !== '\\Recent');
      state.set(id, [...(state.get(id) ?? []), [mailbox, ...flags].join(' ')].sort());
    }
  }
  return state;
}

/** Three alerts the rules match; two messages they leave alone, one of them `\Deleted` by another client. */
const ALERTS = [
  { id: 'alert1', from: 'alerts@ops.test', flags: '' },
  { id: 'keep1', from: 'person@home.test', flags: '' },
  { id: 'alert2', from: 'alerts@ops.test', flags: 'S' },
  { id: 'keep2', from: 'alerts@ops.test', flags: 'T' },
  { id: 'alert3', from: 'alerts@ops.test', flags: 'F' },
];

async function alertsUser(server: TestImapServer): Promise<string> {
  const user = server.addUser();
  await server.seed(
    user,
    'INBOX',
    ALERTS.map((message) => ({
      raw: makeMail({ messageId: message.id, from: message.from, subject: `about ${message.id}` }),
      flags: message.flags,
    })),
  );
  return user;
}

async function corpusUser(server: TestImapServer): Promise<string> {
  const user = server.addUser();
  await server.seed(user, 'INBOX', CORPUS);
  return user;
}

/** Runs `ruleset` through a fault proxy armed with `fault`; the commands the run sent. */
async function runThrough(server: TestImapServer, user: string, ruleset: Ruleset, fault: Fault) {
  const proxy = await startFaultProxy({
    target: server.imapPort,
    tls: { cert: server.certificate, key: readFileSync(server.keyFile, 'utf8') },
  });
  try {
    proxy.arm(fault);
    const account = { ...server.account(user), port: proxy.port };
    const summary = await runRuleset(ruleset, account, { state: stateStore, dryRun: false, timeouts: FAST });
    return { summary, commands: [...proxy.commands()], struck: proxy.struck() };
  } finally {
    await proxy.close();
  }
}

const EVERY_ACTION = `rules:
  - { name: flags, match: { from: news@ }, actions: [{ addFlags: ['\\Seen', $News] }, { removeFlags: ['\\Flagged'] }] }
  - { name: copy, match: { from: anna@, notKeyword: $Copied }, actions: [{ copyTo: Personal/Copies }, { addFlags: [$Copied] }] }
  - { name: move, match: { from: billing@, attachment: { type: application/pdf } }, actions: [{ addFlags: [$Invoice] }, { moveTo: Finance/Invoices }] }
  - { name: trash, match: { from: news@ }, actions: [{ delete: trash }] }
  - { name: purge, match: { from: monitoring@, answered: true }, actions: [{ delete: expunge }] }
  - { name: post, match: { from: monitoring@ }, actions: [{ webhook: { url: 'URL', attempts: 1 } }, { addFlags: [$Posted] }] }
`;

for (const real of REAL_SERVERS) {
  describe(`mailsift on ${real.name}`, () => {
    let server: TestImapServer;
    let receiver: Receiver;
    before(async () => {
      [server, receiver] = await Promise.all([real.start(), startReceiver()]);
    });
    after(async () => {
      await receiver?.close();
      await server?.stop();
    });

    it('selects exactly the expected messages for every match key', async () => {
      const user = await corpusUser(server);
      const rules = MATCH_CASES.map(
        (testCase, index) =>
          `  - name: case${index}\n    match: ${testCase.match}\n    actions: [{ addFlags: [$Case${index}] }]`,
      ).join('\n');
      const summary = await runRuleset(rulesetOf(`rules:\n${rules}\n`), server.account(user), {
        state: stateStore,
        dryRun: false,
      });
      assert.equal(summary.error, undefined);
      const state = await imapState(server, user);
      MATCH_CASES.forEach((testCase, index) => {
        assert.equal(
          summary.rules[index]?.error,
          undefined,
          `${testCase.match}: ${summary.rules[index]?.error}`,
        );
        assert.deepEqual(
          idsIn(state, 'INBOX', `$Case${index}`),
          [...testCase.expected].sort(),
          testCase.match,
        );
      });
    });

    it('applies every action, and expunges exactly the matched messages; a dry run first predicted it all', async () => {
      const user = server.addUser();
      await server.seed(user, 'INBOX', [
        ...CORPUS,
        { raw: makeMail({ messageId: 'other-deleted', from: 'monitoring@ops.test' }), flags: 'RT' },
      ]);
      const posts = await startReceiver();
      try {
        const ruleset = rulesetOf(EVERY_ACTION.replace('URL', posts.url));
        const before = await endState(server, user);
        const dry = await runRuleset(ruleset, server.account(user), { state: stateStore, dryRun: true });
        assert.deepEqual(await endState(server, user), before, 'the dry run changed nothing');
        assert.equal(posts.requests.length, 0);
        const summary = await runRuleset(ruleset, server.account(user), { state: stateStore, dryRun: false });
        for (const rule of summary.rules) assert.equal(rule.error, undefined, `${rule.name}: ${rule.error}`);
        assert.deepEqual(summary.server, real.facts);
        const matched = (run: typeof summary) => run.rules.map((rule) => `${rule.name} ${rule.matched}`);
        assert.deepEqual(matched(summary), matched(dry));

        const state = await imapState(server, user);
        assert.deepEqual(idsIn(state, 'Trash', '$News'), ['news1', 'news2']);
        assert.deepEqual(idsIn(state, 'Trash', '\\Flagged'), []);
        assert.deepEqual(idsIn(state, 'Personal/Copies'), ['personal']);
        assert.deepEqual(idsIn(state, 'Finance/Invoices', '$Invoice'), ['inv1']);
        // alert2 (answered) expunged; the \Deleted message of another client is still there.
        assert.deepEqual(idsIn(state, 'INBOX'), ['alert1', 'inv2', 'other-deleted', 'personal']);
        assert.deepEqual(idsIn(state, 'INBOX', '$Posted'), ['alert1']);
        assert.deepEqual(
          posts.payloads().map((payload) => payload.subject),
          ['[ALERT] disk full on db1'],
        );
        const again = await runRuleset(ruleset, server.account(user), { state: stateStore, dryRun: false });
        assert.deepEqual(
          again.rules.filter((rule) => rule.acted > 0).map((rule) => rule.name),
          [],
          'a second run does nothing again',
        );
        // What the first run's own changes did to HIGHESTMODSEQ is not taken for a restore from a backup.
        assert.deepEqual(
          again.rules
            .filter((rule) => rule.scanReason?.startsWith('mailbox went back'))
            .map((rule) => rule.name),
          [],
        );
        assert.equal(posts.requests.length, 1);
      } finally {
        await posts.close();
      }
    });

    it('two runs at once on a fresh account: one run’s end state, the mailboxes created once', async () => {
      for (const lease of ['state', 'mailbox'] as const) {
        const reference = await alertsUser(server);
        const rules = rulesetOf(
          "rules:\n  - { name: file, match: { from: alerts@ }, actions: [{ addFlags: [$Filed] }, { moveTo: 'Ops/Archive' }] }\n",
        );
        await runRuleset(rules, server.account(reference), { state: stateStore, dryRun: false, lease });
        const expected = await endState(server, reference);
        const user = await alertsUser(server);
        const summaries = await Promise.all(
          [1, 2].map(() =>
            runRuleset(rules, server.account(user), { state: stateStore, dryRun: false, lease }),
          ),
        );
        for (const summary of summaries) {
          assert.equal(summary.error, undefined, `lease ${lease}: ${summary.error}`);
          for (const rule of summary.rules)
            assert.equal(rule.error, undefined, `lease ${lease}: ${rule.error}`);
        }
        assert.deepEqual(await endState(server, user), expected, `lease ${lease}`);
      }
    });

    const CUT_SCENARIOS = [
      {
        name: 'moveTo',
        rules: "  - { name: file, match: { from: alerts@ }, actions: [{ moveTo: 'Ops/Archive' }] }\n",
      },
      {
        name: 'webhook, then \\Seen',
        rules:
          "  - { name: fwd, match: { from: alerts@ }, actions: [{ webhook: { url: 'URL', attempts: 1 } }, { addFlags: ['\\Seen'] }] }\n",
      },
    ];
    for (const scenario of CUT_SCENARIOS) {
      it(`a connection cut at every command of a run (${scenario.name}): nothing lost, a rerun converges`, async (t) => {
        const rulesetFor = (posts: Receiver) =>
          rulesetOf(`rules:\n${scenario.rules.replace('URL', posts.url)}`);
        const referenceUser = await alertsUser(server);
        const reference = await runThrough(server, referenceUser, rulesetFor(receiver), { kind: 'none' });
        assert.equal(reference.summary.error ?? reference.summary.rules[0]?.error, undefined);
        const expected = await endState(server, referenceUser);
        const seeded = await endState(server, await alertsUser(server));
        const cuts = reference.commands.flatMap((_, i) =>
          (['before', 'answered'] as const).map((when): Fault => ({ kind: 'cut', at: i + 1, when })),
        );
        t.diagnostic(`${reference.commands.length} commands, ${cuts.length} cut runs`);
        let next = 0;
        const worker = async () => {
          while (next < cuts.length) {
            const fault = cuts[next++] as Fault;
            const user = await alertsUser(server);
            const posts = await startReceiver();
            try {
              const cut = await runThrough(server, user, rulesetFor(posts), fault);
              const where = `${JSON.stringify(fault)} (${cut.struck})`;
              const afterCut = await endState(server, user);
              for (const id of ['keep1', 'keep2'])
                assert.deepEqual(afterCut.get(id), seeded.get(id), `${where}: ${id} untouched`);
              for (const id of ['alert1', 'alert2', 'alert3'])
                assert.ok((afterCut.get(id) ?? []).length >= 1, `${where}: ${id} still there`);
              const rerun = await runThrough(server, user, rulesetFor(posts), { kind: 'none' });
              assert.equal(
                rerun.summary.rules[0]?.error,
                undefined,
                `${where}: ${rerun.summary.rules[0]?.error}`,
              );
              assert.deepEqual(await endState(server, user), expected, `${where}: converges`);
              const uids = posts.payloads().map((payload) => Number(payload.uid));
              if (scenario.name.startsWith('webhook')) {
                assert.equal(uids.length, 3, `${where}: every alert posted`);
                assert.equal(new Set(uids).size, 3, `${where}: posted once each: ${uids}`);
              }
            } finally {
              await posts.close();
            }
          }
        };
        await Promise.all([worker(), worker(), worker(), worker()]);
      });
    }

    // Last: Dovecot slows down logins from an address after a failed one (its auth penalty).
    it('a wrong password: ImapAuthError for every ruleset of the account, one LOGIN', async () => {
      const user = await alertsUser(server);
      const proxy = await startFaultProxy({
        target: server.imapPort,
        tls: { cert: server.certificate, key: readFileSync(server.keyFile, 'utf8') },
      });
      try {
        proxy.arm({ kind: 'none' });
        const account = { ...server.account(user), port: proxy.port, password: 'wrong' };
        const rulesets = ['a', 'b'].map((name) =>
          rulesetOf(
            'rules:\n  - { name: r, match: { from: alerts@ }, actions: [{ addFlags: [$X] }] }\n',
            name,
          ),
        );
        const summaries = await runRulesets(
          rulesets.map((ruleset) => ({ ruleset, account })),
          { state: stateStore, dryRun: false },
          () => {},
        );
        assert.deepEqual(
          summaries.map((summary) => summary.errorType),
          ['ImapAuthError', 'ImapAuthError'],
        );
        assert.ok(!JSON.stringify(summaries).includes('wrong'), 'the password is not in the summary');
        const logins = proxy.commands().filter((line) => / (LOGIN|AUTHENTICATE) /i.test(line));
        assert.equal(logins.length, 1, proxy.commands().join('\n'));
      } finally {
        await proxy.close();
      }
    });
  });
}
