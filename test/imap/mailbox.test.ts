/**
 * Creating a mailbox that another client created a moment before: servers refuse the CREATE in words of their own
 * (Cyrus "Mailbox already exists", Courier "Cannot create this folder."), without [ALREADYEXISTS]. Dovecot behind a
 * proxy answers as they do, while the mailbox exists; the run must carry on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runRuleset } from '../../functions/engine/run.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { type FaultProxy, startFaultProxyFor } from '../helpers/fault-proxy.ts';
import { makeMail } from '../helpers/mail.ts';
import { idsIn, rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';

let dovecot: TestDovecot;
let refusal = '';
/** MOVEs the proxy has seen in the running test. */
let moves = 0;
let proxy: FaultProxy;

before(async () => {
  dovecot = await startDovecot();
  proxy = await startFaultProxyFor(dovecot, {
    // The first MOVE finds no target (as it was when this run looked), the CREATE finds it made meanwhile.
    answer: (tag, line) => {
      if (/ UID MOVE /i.test(line) && moves++ === 0)
        return `${tag} NO [TRYCREATE] Mailbox does not exist\r\n`;
      if (/ CREATE /i.test(line)) return `${tag} ${refusal}\r\n`;
      return undefined;
    },
  });
});
after(async () => {
  await proxy?.close();
  await dovecot?.stop();
});

describe('a CREATE refused because the mailbox exists by now', () => {
  for (const [server, answer] of [
    ['Cyrus', 'NO Mailbox already exists'],
    ['Courier', 'NO Cannot create this folder.'],
  ] as const) {
    it(`is taken for success when LIST shows the mailbox (${server}: "${answer}")`, async () => {
      refusal = answer;
      moves = 0;
      const user = dovecot.addUser();
      dovecot.seed(user, 'INBOX', [{ raw: makeMail({ messageId: 'm1', from: 'a@x.test' }) }]);
      await dovecot.doveadm('mailbox', 'create', '-u', user, 'Archive');
      proxy.arm({ kind: 'none' });
      const summary = await runRuleset(
        rulesetOf('rules:\n  - { name: file, match: { from: a@ }, actions: [{ moveTo: Archive }] }\n'),
        { ...dovecot.account(user), port: proxy.port },
        { state: testState(), dryRun: false },
      );
      assert.equal(summary.rules[0]?.error, undefined, summary.rules[0]?.error);
      assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'Archive'), ['m1']);
      assert.ok(
        proxy.commands().some((line) => / LIST /.test(line)),
        'asked LIST',
      );
    });
  }

  it("still fails with the server's words when LIST does not show it", async () => {
    refusal = 'NO Permission denied';
    moves = 0;
    const user = dovecot.addUser();
    dovecot.seed(user, 'INBOX', [{ raw: makeMail({ messageId: 'm1', from: 'a@x.test' }) }]);
    proxy.arm({ kind: 'none' });
    const summary = await runRuleset(
      rulesetOf('rules:\n  - { name: file, match: { from: a@ }, actions: [{ moveTo: Elsewhere }] }\n'),
      { ...dovecot.account(user), port: proxy.port },
      { state: testState(), dryRun: false },
    );
    assert.equal(summary.rules[0]?.errorType, 'ImapActionError');
    assert.match(summary.rules[0]?.error ?? '', /CREATE failed with NO: "Permission denied"/);
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'INBOX'), ['m1']);
  });
});
