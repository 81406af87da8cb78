/** Gmail's label semantics, reproduced by a proxy in front of a real Dovecot that announces X-GM-EXT-1. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runRuleset } from '../../functions/engine/run.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { type FaultProxy, startFaultProxyFor } from '../helpers/fault-proxy.ts';
import { GMAIL_LIKE } from '../helpers/gmail-like.ts';
import { makeMail } from '../helpers/mail.ts';
import { idsIn, rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';

const stateStore = testState();
let dovecot: TestDovecot;
let gmail: FaultProxy;

before(async () => {
  dovecot = await startDovecot();
  gmail = await startFaultProxyFor(dovecot, GMAIL_LIKE);
});
after(async () => {
  await gmail?.close();
  await dovecot?.stop();
});

const EXPUNGE_NEWS = (mailbox: string) =>
  rulesetOf(
    `mailbox: ${mailbox}\nrules:\n  - { name: purge, match: { from: news@ }, actions: [{ delete: expunge }] }\n`,
  );

function userWith(mailbox: string): string {
  const user = dovecot.addUser();
  dovecot.seed(user, mailbox, [
    { raw: makeMail({ messageId: 'news', from: 'news@letters.test' }) },
    { raw: makeMail({ messageId: 'keep', from: 'anna@example.com' }) },
  ]);
  return user;
}

describe('on Gmail (X-GM-EXT-1)', () => {
  it('delete: expunge moves to the \\\\Trash mailbox, since an expunge would only take the INBOX label off', async () => {
    const user = userWith('INBOX');
    gmail.arm({ kind: 'none' });
    const summary = await runRuleset(
      EXPUNGE_NEWS('INBOX'),
      { ...dovecot.account(user), port: gmail.port },
      {
        dryRun: false,
        state: stateStore,
      },
    );
    assert.deepEqual(summary.rules[0]?.actions, [{ type: 'delete', target: 'Trash', count: 1 }]);
    // One FETCH: the history's sample (imapflow adds X-GM-MSGID on Gmail, which the proxy takes out for Dovecot).
    assert.equal(gmail.commands().filter((line) => / UID FETCH /.test(line)).length, 1);
    const state = await dovecot.mailboxState(user);
    assert.deepEqual([idsIn(state, 'INBOX'), idsIn(state, 'Trash')], [['keep'], ['news']]);
  });

  it('delete: expunge in the Trash itself removes for good, and elsewhere than Gmail it always does', async () => {
    const inTrash = userWith('Trash');
    await runRuleset(
      EXPUNGE_NEWS('Trash'),
      { ...dovecot.account(inTrash), port: gmail.port },
      {
        dryRun: false,
        state: stateStore,
      },
    );
    assert.deepEqual(idsIn(await dovecot.mailboxState(inTrash), 'Trash'), ['keep']);
    const plain = userWith('INBOX');
    await runRuleset(EXPUNGE_NEWS('INBOX'), dovecot.account(plain), { dryRun: false, state: stateStore });
    const state = await dovecot.mailboxState(plain);
    assert.deepEqual([idsIn(state, 'INBOX'), idsIn(state, 'Trash')], [['keep'], []]);
  });

  it('gmailSearch is sent as X-GM-RAW and decided by the server; elsewhere the rule fails, naming the key', async () => {
    const user = dovecot.addUser();
    dovecot.seed(user, 'INBOX', [
      { raw: makeMail({ messageId: 'pdf', text: 'see invoice-2001.pdf attached' }) },
      { raw: makeMail({ messageId: 'other', text: 'nothing here' }) },
    ]);
    const ruleset = rulesetOf(
      'rules:\n  - { name: raw, match: { gmailSearch: "invoice-2001.pdf" }, actions: [{ addFlags: [$Raw] }] }\n',
    );
    gmail.arm({ kind: 'none' });
    const summary = await runRuleset(
      ruleset,
      { ...dovecot.account(user), port: gmail.port },
      {
        dryRun: false,
        state: stateStore,
      },
    );
    assert.equal(summary.rules[0]?.error, undefined);
    assert.ok(gmail.commands().some((line) => /X-GM-RAW "?invoice-2001\.pdf/.test(line)));
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'INBOX', '$Raw'), ['pdf']);

    for (const dryRun of [true, false]) {
      const elsewhere = await runRuleset(ruleset, dovecot.account(user), { dryRun, state: stateStore });
      assert.equal(elsewhere.rules[0]?.errorType, 'CapabilityError');
      assert.match(
        elsewhere.rules[0]?.error ?? '',
        /gmailSearch "invoice-2001\.pdf" needs Gmail \(the X-GM-EXT-1/,
      );
    }
  });
});
