/**
 * Reviewed plans against the real Dovecot: `apply` acts on the planned messages that still match and on nothing
 * else, also when its connection is cut at any command and it is run again, and refuses a rule whose mailbox was
 * created again since the plan.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Plan, PlanRecorder, planLimits } from '../../../functions/engine/history/plan.ts';
import { runRuleset } from '../../../functions/engine/run.ts';
import type { ImapAccount } from '../../../functions/imap/session.ts';
import type { StateStore } from '../../../functions/state/store.ts';
import { CORPUS } from '../../helpers/corpus.ts';
import { startDovecot, type TestDovecot } from '../../helpers/dovecot.ts';
import { startFaultProxyFor } from '../../helpers/fault-proxy.ts';
import { makeMail } from '../../helpers/mail.ts';
import { idsIn, rulesetOf } from '../../helpers/rulesets.ts';
import { testState } from '../../helpers/state.ts';

const FAST = { connectMs: 2000, greetingMs: 2000, socketMs: 2000 };
const RULES = rulesetOf(`rules:
  - { name: file, match: { from: billing@ }, actions: [{ addFlags: [$Invoice] }, { moveTo: Finance }] }
  - { name: tag, match: { from: news@ }, actions: [{ addFlags: [$News] }] }
`);
const NEW_MAIL = [
  { raw: makeMail({ messageId: 'inv9', from: 'billing@acme.test', subject: 'Invoice 9' }) },
  { raw: makeMail({ messageId: 'news9', from: 'news@letters.test', subject: 'Issue 9' }) },
];

let dovecot: TestDovecot;
before(async () => {
  dovecot = await startDovecot();
});
after(async () => {
  await dovecot?.stop();
});

/** A dry run with a plan recorder: the plan `mailsift run --dry-run --plan` writes. */
async function planFor(account: ImapAccount, state: StateStore): Promise<Plan> {
  const recorder = new PlanRecorder();
  await runRuleset(RULES, account, { state, dryRun: true, planRecorder: recorder });
  return recorder.plan();
}

const apply = (account: ImapAccount, state: StateStore, plan: Plan, timeouts?: typeof FAST) =>
  runRuleset(RULES, account, { state, dryRun: false, fullScan: true, plan: planLimits(plan), timeouts });

/** What must hold after an apply: the planned messages acted on, the mail that came after untouched. */
async function assertApplied(user: string, message: string) {
  const state = await dovecot.mailboxState(user);
  assert.deepEqual(idsIn(state, 'Finance', '$Invoice'), ['inv1', 'inv2'], message);
  assert.deepEqual(idsIn(state, 'INBOX', '$News'), ['news1', 'news2'], message);
  assert.ok(
    idsIn(state, 'INBOX').includes('inv9') && !idsIn(state, 'INBOX', '$News').includes('news9'),
    message,
  );
}

describe('apply of a reviewed plan', () => {
  it('cut at every command and run again: the planned messages done, once, and new mail never touched', async (t) => {
    const proxy = await startFaultProxyFor(dovecot);
    try {
      const prepared = async () => {
        const user = dovecot.addUser();
        dovecot.seed(user, 'INBOX', CORPUS);
        const state = testState();
        const plan = await planFor(dovecot.account(user), state);
        dovecot.seed(user, 'INBOX', NEW_MAIL); // arrived after the review
        return { user, state, plan, through: { ...dovecot.account(user), port: proxy.port } };
      };
      const reference = await prepared();
      proxy.arm({ kind: 'none' });
      const summary = await apply(reference.through, reference.state, reference.plan, FAST);
      assert.deepEqual(
        summary.rules.map((rule) => [rule.name, rule.acted, rule.error]),
        [
          ['file', 2, undefined],
          ['tag', 2, undefined],
        ],
      );
      await assertApplied(reference.user, 'uncut');
      const commands = proxy.commands().length;
      t.diagnostic(`${commands} commands, ${commands * 2} cut applies`);
      for (let at = 1; at <= commands; at++) {
        for (const when of ['before', 'answered'] as const) {
          const { user, state, plan, through } = await prepared();
          proxy.arm({ kind: 'cut', at, when });
          await apply(through, state, plan, FAST).catch(() => undefined);
          const again = await apply(dovecot.account(user), state, plan);
          const where = `cut ${when} command ${at} (${proxy.struck()})`;
          assert.ok(
            again.rules.every((rule) => rule.error === undefined),
            `${where}: ${JSON.stringify(again.rules)}`,
          );
          await assertApplied(user, where);
          const moved = (await dovecot.mailboxState(user)).get('Finance') ?? [];
          assert.equal(moved.length, 2, `${where}: each invoice moved once`);
        }
      }
    } finally {
      await proxy.close();
    }
  });

  it('refuses a rule whose mailbox was created again since the plan: the planned UIDs name other messages', async () => {
    const user = dovecot.addUser();
    dovecot.seed(user, 'INBOX', []); // the Maildir, owned by the mail user, for doveadm's lock below
    dovecot.seed(user, 'Lists', CORPUS);
    const state = testState();
    const ruleset = rulesetOf(`mailbox: Lists
rules:
  - { name: tag, match: { from: news@ }, actions: [{ addFlags: [$News] }] }
`);
    const recorder = new PlanRecorder();
    await runRuleset(ruleset, dovecot.account(user), { state, dryRun: true, planRecorder: recorder });
    await dovecot.doveadm('mailbox', 'delete', '-u', user, 'Lists');
    dovecot.seed(user, 'Lists', [...CORPUS].reverse());
    const summary = await runRuleset(ruleset, dovecot.account(user), {
      state,
      dryRun: false,
      fullScan: true,
      plan: planLimits(recorder.plan()),
    });
    assert.deepEqual(
      summary.rules.map((rule) => [rule.acted, rule.errorType, rule.error]),
      [
        [
          0,
          'PlanError',
          'Lists was created again since the plan (its UIDVALIDITY changed): the planned UIDs name other messages now',
        ],
      ],
    );
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'Lists', '$News'), [], 'nothing tagged');
  });
});
