import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runRuleset } from '../../functions/engine/run.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { makeMail } from '../helpers/mail.ts';
import { idsIn, rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';

const stateStore = testState();
/** A Dovecot whose personal namespace is Courier's: prefix `INBOX.`, delimiter `.`. */
let courierLike: TestDovecot;

before(async () => {
  courierLike = await startDovecot({ courierNamespace: true });
});
after(async () => {
  await courierLike?.stop();
});

function userWithMail(): string {
  const user = courierLike.addUser();
  courierLike.seed(user, 'INBOX', [
    { raw: makeMail({ messageId: 'inv', from: 'billing@acme.test', subject: 'Invoice 7' }) },
    { raw: makeMail({ messageId: 'news', from: 'news@letters.test' }) },
  ]);
  courierLike.seed(user, 'Lists', [{ raw: makeMail({ messageId: 'list', from: 'news@letters.test' }) }]);
  return user;
}

const FILING = rulesetOf(`
rules:
  - name: invoices
    match: { from: billing@ }
    actions: [{ moveTo: Finance/Invoices }]
  - name: news
    match: { from: news@ }
    actions: [{ delete: trash }]
  - name: lists
    mailbox: Lists
    match: { from: news@ }
    actions: [{ addFlags: [$List] }]
`);

describe('mailbox names on a server with the INBOX. namespace and "." between levels', () => {
  it('file into Finance/Invoices as INBOX.Finance.Invoices, and say Finance/Invoices', async () => {
    const user = userWithMail();
    const plan = await runRuleset(FILING, courierLike.account(user), { dryRun: true, state: stateStore });
    assert.deepEqual(
      plan.rules.map((rule) => [rule.name, rule.mailbox, rule.acted, rule.error]),
      [
        ['invoices', 'INBOX', 1, undefined],
        ['news', 'INBOX', 1, undefined],
        ['lists', 'Lists', 1, undefined],
      ],
    );
    const summary = await runRuleset(FILING, courierLike.account(user), { dryRun: false, state: stateStore });
    assert.deepEqual(
      summary.rules.map((rule) => [rule.name, rule.error, ...rule.actions.map((action) => action.target)]),
      [
        ['invoices', undefined, 'Finance/Invoices'],
        ['news', undefined, 'Trash'],
        ['lists', undefined, '$List'],
      ],
    );
    const state = await courierLike.mailboxState(user);
    assert.deepEqual(idsIn(state, 'INBOX.Finance.Invoices'), ['inv']);
    assert.deepEqual(idsIn(state, 'INBOX.Trash'), ['news']);
    assert.deepEqual(idsIn(state, 'INBOX.Lists', '$List'), ['list']);
    assert.deepEqual(idsIn(state, 'INBOX'), []);
  });

  it('refuse, in the dry run too, a name the server cannot express, naming the folder and the delimiter', async () => {
    const user = userWithMail();
    const ruleset = rulesetOf(`
rules:
  - name: reports
    match: { from: billing@ }
    actions: [{ moveTo: Reports/Q1.2026 }]
`);
    for (const dryRun of [true, false]) {
      const summary = await runRuleset(ruleset, courierLike.account(user), { dryRun, state: stateStore });
      assert.equal(summary.rules[0]?.errorType, 'MailboxNameError');
      assert.match(summary.rules[0]?.error ?? '', /"Reports\/Q1\.2026".*delimiter is "\."/);
    }
    assert.deepEqual(idsIn(await courierLike.mailboxState(user), 'INBOX'), ['inv', 'news']);
  });
});
