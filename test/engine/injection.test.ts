/**
 * Rule values cannot inject IMAP commands, and odd mailbox names work: what reached the server is read from
 * the fault proxy (every command line it forwarded), what happened from Dovecot itself.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runRuleset } from '../../functions/engine/run.ts';
import { RuleFileError } from '../../functions/errors.ts';
import { ImapSession } from '../../functions/imap/session.ts';
import { parseRuleset } from '../../functions/rules/load.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { type FaultProxy, startFaultProxyFor } from '../helpers/fault-proxy.ts';
import { makeMail } from '../helpers/mail.ts';
import { rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';

/** Where these runs keep their state: one real file store for the whole file. */
const stateStore = testState();

let dovecot: TestDovecot;
let proxy: FaultProxy;
before(async () => {
  dovecot = await startDovecot();
  proxy = await startFaultProxyFor(dovecot);
});
after(async () => {
  await proxy?.close();
  await dovecot?.stop();
});

function seededUser(): string {
  const user = dovecot.addUser();
  dovecot.seed(user, 'INBOX', [
    { raw: makeMail({ messageId: 'odd', from: 'a@x.test', subject: 'say "hi" {5} \\ done', text: 'x' }) },
    { raw: makeMail({ messageId: 'plain', from: 'b@x.test', subject: 'nothing special', text: 'y' }) },
  ]);
  return user;
}

/** Command names the server received (`SELECT`, `UID SEARCH`, …). */
function commandNames(): string[] {
  return proxy
    .commands()
    .map((line) => line.split(' ').slice(1, 3))
    .map(([first = '', second = '']) =>
      first.toUpperCase() === 'UID' ? `UID ${second.toUpperCase()}` : first.toUpperCase(),
    );
}

describe('rule values cannot inject IMAP commands', () => {
  it('rejects line breaks in every free-text value when a rule file is loaded', () => {
    for (const field of [
      'match: { subject: "x\\r\\nA1 DELETE INBOX" }, actions: [{ addFlags: [$X] }]',
      'match: { from: "a\\nb" }, actions: [{ addFlags: [$X] }]',
      'match: { header: { X-Test: "a\\r\\nb" } }, actions: [{ addFlags: [$X] }]',
      'match: { from: a@ }, actions: [{ moveTo: "Archive\\r\\nA2 LOGOUT" }]',
    ]) {
      assert.throws(
        () =>
          parseRuleset(
            'rules/x.yaml',
            `account: a\nschedule: rate(5 minutes)\nrules:\n  - { name: n, ${field} }\n`,
          ),
        (error: unknown) => error instanceof RuleFileError && /line breaks/.test(error.message),
        field,
      );
    }
  });

  it('sends quotes, backslashes and literal syntax as data: the rule matches exactly what it says', async () => {
    const user = seededUser();
    const ruleset = rulesetOf(`rules:
  - { name: odd, match: { subject: 'say "hi" {5} \\ done' }, actions: [{ addFlags: [$Odd] }] }
`);
    proxy.arm({ kind: 'none' });
    const summary = await runRuleset(
      ruleset,
      { ...dovecot.account(user), port: proxy.port },
      { state: stateStore, dryRun: false },
    );
    assert.equal(summary.rules[0]?.error, undefined);
    assert.equal(summary.rules[0]?.matched, 1);
    // The rule's SELECT, SEARCH, the history's sample (FETCH) and STORE, then LOGOUT: the account lease lives in
    // the state store.
    assert.deepEqual(commandNames().slice(-5), ['SELECT', 'UID SEARCH', 'UID FETCH', 'UID STORE', 'LOGOUT']);
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(
      state.get('INBOX')?.map((message) => [message.messageId, message.flags.includes('$Odd')]),
      [
        ['<odd@test>', true],
        ['<plain@test>', false],
      ],
    );
  });

  it('refuses CR/LF that got past the schema before sending anything, and the session carries on', async () => {
    const user = seededUser();
    proxy.arm({ kind: 'none' });
    const session = await ImapSession.connect({ ...dovecot.account(user), port: proxy.port });
    try {
      await session.openMailbox('INBOX', false);
      const searchesBefore = commandNames().filter((name) => name === 'UID SEARCH').length;
      // imapflow will not put a line break into a search string (RFC 3501 §4.3 quoted strings cannot hold one).
      await assert.rejects(
        session.searchUids({ subject: 'x\r\nA1 DELETE INBOX\r\nA2 LOGOUT' }),
        (error: unknown) => /UID SEARCH failed with error InvalidStringValue/.test((error as Error).message),
      );
      assert.equal(
        commandNames().filter((name) => name === 'UID SEARCH').length,
        searchesBefore,
        'nothing sent',
      );
      // The session still works: nothing was logged out or deleted.
      assert.equal((await session.searchUids({ from: 'b@' })).length, 1);
    } finally {
      await session.close();
    }
    assert.ok(!commandNames().includes('DELETE'), commandNames().join(' '));
    assert.equal(commandNames().filter((name) => name === 'LOGOUT').length, 1);
    assert.equal((await dovecot.mailboxState(user)).get('INBOX')?.length, 2);
  });
});

describe('mailbox names', () => {
  it('moves into a new mailbox whose name has non-ASCII (modified UTF-7), spaces, quotes and the separator', async () => {
    const user = seededUser();
    const target = 'Ablage/Café "Reports" 2026/Ü';
    const ruleset = rulesetOf(`rules:
  - { name: file, match: { from: a@ }, actions: [{ moveTo: '${target}' }] }
`);
    const summary = await runRuleset(ruleset, dovecot.account(user), { state: stateStore, dryRun: false });
    assert.equal(summary.rules[0]?.error, undefined);
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(
      state.get(target)?.map((message) => message.messageId),
      ['<odd@test>'],
    );
    assert.deepEqual(
      state.get('INBOX')?.map((message) => message.messageId),
      ['<plain@test>'],
    );
  });
});
