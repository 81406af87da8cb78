/**
 * A server that refuses commands for load (RFC 5530 [UNAVAILABLE]/[LIMIT], Exchange's "Server Unavailable. 15"),
 * reproduced by a proxy in front of a real Dovecot that answers the first commands of a kind itself.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runRuleset } from '../../functions/engine/run.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { startFaultProxyFor } from '../helpers/fault-proxy.ts';
import { makeMail } from '../helpers/mail.ts';
import { idsIn, rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';

const stateStore = testState();
let dovecot: TestDovecot;

before(async () => {
  dovecot = await startDovecot();
});
after(async () => {
  await dovecot?.stop();
});

const FILING = rulesetOf(`
rules:
  - name: invoices
    match: { from: billing@ }
    actions: [{ addFlags: [$Invoice] }, { moveTo: Finance }]
  - name: news
    match: { from: news@ }
    actions: [{ addFlags: [$News] }]
`);

function seededUser(): string {
  const user = dovecot.addUser();
  dovecot.seed(user, 'INBOX', [
    { raw: makeMail({ messageId: 'inv', from: 'billing@acme.test' }) },
    { raw: makeMail({ messageId: 'news', from: 'news@letters.test' }) },
  ]);
  return user;
}

/** Runs FILING through a proxy that answers the first `times` commands matching `command` with `answer`. */
async function throttledRun(user: string, command: RegExp, times: number, answer: string) {
  let refused = 0;
  const proxy = await startFaultProxyFor(dovecot, {
    answer: (tag, line) => {
      if (!command.test(line) || refused >= times) return undefined;
      refused += 1;
      return `${tag} ${answer}\r\n`;
    },
  });
  try {
    const options = { dryRun: false, state: stateStore, throttleDelaysMs: [10, 10, 10] };
    const summary = await runRuleset(FILING, { ...dovecot.account(user), port: proxy.port }, options);
    return { summary, refused };
  } finally {
    await proxy.close();
  }
}

describe('a server that throttles', () => {
  it('is asked again, a little later, when it refuses a SEARCH for load: the rule goes through', async () => {
    const user = seededUser();
    const { summary, refused } = await throttledRun(
      user,
      /UID SEARCH .*billing/,
      2,
      'NO [UNAVAILABLE] Try later',
    );
    assert.equal(refused, 2);
    const [invoices, news] = summary.rules;
    assert.deepEqual([invoices?.error, invoices?.retries, invoices?.acted], [undefined, 2, 1]);
    assert.deepEqual([news?.error, news?.retries], [undefined, undefined]);
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(state, 'Finance', '$Invoice'), ['inv']);
  });

  it("knows Exchange's words without a response code, and a SELECT refused for load", async () => {
    const user = seededUser();
    const { summary, refused } = await throttledRun(user, /^\S+ SELECT /, 1, 'NO Server Unavailable. 15');
    assert.equal(refused, 1);
    assert.deepEqual(
      summary.rules.map((rule) => [rule.error, rule.acted]),
      [
        [undefined, 1],
        [undefined, 1],
      ],
    );
  });

  it('fails the rule with ImapThrottledError once the tries are used up; the other rules still run', async () => {
    const user = seededUser();
    const { summary, refused } = await throttledRun(user, /UID SEARCH .*billing/, 99, 'NO [LIMIT] Too busy');
    assert.equal(refused, 4);
    const [invoices, news] = summary.rules;
    assert.equal(invoices?.errorType, 'ImapThrottledError');
    assert.equal(invoices?.retries, 3);
    assert.match(invoices?.error ?? '', /\[LIMIT\].*Too busy/);
    assert.deepEqual([news?.error, news?.acted], [undefined, 1]);
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'INBOX'), ['inv', 'news']);
  });

  it('does not try a rule again once it changed something: the next run carries on', async () => {
    const user = seededUser();
    // addFlags went through, then the MOVE is refused: the rule fails now, as any refused action does.
    const { summary, refused } = await throttledRun(user, /UID MOVE/, 99, 'NO [UNAVAILABLE] Try later');
    assert.equal(refused, 1);
    assert.deepEqual(
      [summary.rules[0]?.errorType, summary.rules[0]?.retries],
      ['ImapThrottledError', undefined],
    );
    const later = await runRuleset(FILING, dovecot.account(user), { dryRun: false, state: stateStore });
    assert.equal(later.rules[0]?.error, undefined);
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'Finance', '$Invoice'), ['inv']);
  });
});
