/**
 * Exchange Online, reproduced by a proxy in front of the real Dovecot (test/helpers/exchange-like.ts): known by
 * its greeting, it gets shorter UID sets, so that no command line nears the 10,240 bytes Exchange refuses; the
 * summary names what about the server changed the run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runRuleset } from '../../functions/engine/run.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { EXCHANGE_MAX_LINE, EXCHANGE_ONLINE } from '../helpers/exchange-like.ts';
import { type FaultProxy, startFaultProxyFor } from '../helpers/fault-proxy.ts';
import { makeMail } from '../helpers/mail.ts';
import { idsIn, rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';

let dovecot: TestDovecot;
let proxy: FaultProxy;

before(async () => {
  dovecot = await startDovecot();
  proxy = await startFaultProxyFor(dovecot, EXCHANGE_ONLINE);
});
after(async () => {
  await proxy?.close();
  await dovecot?.stop();
});

/** Every other message is from billing@: their UIDs (1, 3, 5, …) make a UID set of about 13,000 characters. */
const MESSAGES = 6000;

describe('an Exchange-like server', () => {
  it('gets no command line near its limit, however scattered the UIDs, and the summary says why', async () => {
    const user = dovecot.addUser();
    dovecot.seed(
      user,
      'INBOX',
      Array.from({ length: MESSAGES }, (_, index) => ({
        raw: makeMail({
          messageId: `m${index}`,
          from: index % 2 === 0 ? 'billing@acme.test' : 'other@x.test',
        }),
      })),
    );
    proxy.arm({ kind: 'none' });
    const summary = await runRuleset(
      rulesetOf(`rules:
  - { name: file, match: { from: billing@ }, actions: [{ addFlags: ['\\Flagged'] }, { moveTo: Invoices }], limit: 5000 }
`),
      { ...dovecot.account(user), port: proxy.port },
      { state: testState(), dryRun: false },
    );
    assert.equal(summary.error ?? summary.rules[0]?.error, undefined);
    assert.equal(summary.rules[0]?.acted, MESSAGES / 2);
    const longest = Math.max(...proxy.commands().map((line) => Buffer.byteLength(line)));
    // A UID set of at most 2,000 characters, plus the command around it.
    assert.ok(longest <= 2100, `longest command line ${longest} bytes`);
    assert.ok(longest < EXCHANGE_MAX_LINE);
    const stores = proxy.commands().filter((line) => / UID STORE /.test(line));
    assert.ok(stores.length >= 6, `the flags went out in ${stores.length} STOREs`);
    assert.deepEqual(summary.server, {
      condstore: false,
      searchRes: false,
      within: false,
      specialUse: false,
      exchange: true,
      maxUidSetLength: 2000,
    });
    const state = await dovecot.mailboxState(user);
    assert.equal(idsIn(state, 'Invoices', '\\Flagged').length, MESSAGES / 2);
    assert.equal(idsIn(state, 'INBOX').length, MESSAGES / 2);
  });

  it('refuses a longer line as Exchange does, so the check above could fail', async () => {
    const user = dovecot.addUser();
    dovecot.seed(user, 'INBOX', [{ raw: makeMail({ messageId: 'one' }) }]);
    proxy.arm({ kind: 'none' });
    const long = Array.from({ length: 2500 }, (_, index) => `kw${index}`).join(' ');
    const summary = await runRuleset(
      rulesetOf(
        `rules:\n  - { name: long, match: { subject: "${long}" }, actions: [{ addFlags: ['\\Seen'] }] }\n`,
      ),
      { ...dovecot.account(user), port: proxy.port },
      { state: testState(), dryRun: false },
    );
    assert.match(summary.rules[0]?.error ?? '', /Command Error\. 10/);
  });
});
