import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runRuleset } from '../../functions/engine/run.ts';
import { ImapSession } from '../../functions/imap/session.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { makeMail } from '../helpers/mail.ts';
import { runRecorded } from '../helpers/recorded-run.ts';
import { idsIn, rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';

/** Where these runs keep their state: one real file store for the whole file. */
const stateStore = testState();

/** Two matched newsletters and one message another client marked \Deleted but did not expunge. */
function seedWithForeignDeleted(dovecot: TestDovecot): string {
  const user = dovecot.addUser();
  dovecot.seed(user, 'INBOX', [
    { raw: makeMail({ messageId: 'n1', from: 'news@letters.test' }) },
    { raw: makeMail({ messageId: 'keep', from: 'friend@x.test' }), flags: 'T' },
    { raw: makeMail({ messageId: 'n2', from: 'news@letters.test' }) },
  ]);
  return user;
}

const MOVE_NEWS = rulesetOf(
  'rules:\n  - { name: file-news, match: { from: news@ }, actions: [{ moveTo: News }] }\n',
);

describe('a server without MOVE (RFC 6851)', () => {
  let dovecot: TestDovecot;
  before(async () => {
    dovecot = await startDovecot({ withoutCapabilities: ['MOVE'] });
  });
  after(async () => {
    await dovecot?.stop();
  });

  it('moves with COPY, \\Deleted and UID EXPUNGE of exactly the moved UIDs', async () => {
    const user = seedWithForeignDeleted(dovecot);
    const session = await ImapSession.connect(dovecot.account(user));
    assert.equal(session.profile.move, false);
    await session.close();

    const summary = await runRuleset(MOVE_NEWS, dovecot.account(user), { state: stateStore, dryRun: false });

    assert.equal(summary.rules[0]?.error, undefined);
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(state, 'News'), ['n1', 'n2']);
    // The message another client marked \Deleted is still there: no bare EXPUNGE was sent.
    assert.deepEqual(idsIn(state, 'INBOX'), ['keep']);
  });
});

describe('a server without MOVE and UIDPLUS (RFC 4315)', () => {
  let dovecot: TestDovecot;
  before(async () => {
    dovecot = await startDovecot({ withoutCapabilities: ['MOVE', 'UIDPLUS'] });
  });
  after(async () => {
    await dovecot?.stop();
  });

  it('refuses moveTo and delete with a clear message, copying and expunging nothing', async () => {
    const user = seedWithForeignDeleted(dovecot);
    const summary = await runRuleset(
      rulesetOf(`rules:
  - { name: file-news, match: { from: news@ }, actions: [{ moveTo: News }] }
  - { name: purge-news, match: { from: news@ }, actions: [{ delete: expunge }] }
  - { name: trash-news, match: { from: news@ }, actions: [{ delete: trash }] }
`),
      dovecot.account(user),
      { state: stateStore, dryRun: false },
    );
    for (const rule of summary.rules) {
      assert.equal(rule.errorType, 'CapabilityError');
      assert.match(rule.error ?? '', /offers neither MOVE nor UIDPLUS.*marked \\Deleted/);
    }
    assert.equal(summary.rules[0]?.error, summary.rules[1]?.error?.replace('expunge', 'move'));
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(state, 'INBOX'), ['keep', 'n1', 'n2']);
    assert.equal(state.has('News'), false);
  });

  it('says the same in a dry run', async () => {
    const user = seedWithForeignDeleted(dovecot);
    const summary = await runRuleset(MOVE_NEWS, dovecot.account(user), { state: stateStore, dryRun: true });
    assert.equal(summary.rules[0]?.errorType, 'CapabilityError');
  });
});

describe('a server without WITHIN (RFC 5032)', () => {
  let dovecot: TestDovecot;
  before(async () => {
    dovecot = await startDovecot({ withoutCapabilities: ['WITHIN'] });
  });
  after(async () => {
    await dovecot?.stop();
  });

  it('decides sub-day olderThan/newerThan from INTERNALDATE on the client, exactly', async () => {
    const user = dovecot.addUser();
    const now = Date.now();
    dovecot.seed(
      user,
      'INBOX',
      [30, 80, 100, 180, 60 * 30].map((minutes) => ({
        raw: makeMail({ messageId: `m${minutes}` }),
        internalDate: new Date(now - minutes * 60_000),
      })),
    );
    const summary = await runRuleset(
      rulesetOf(`rules:
  - { name: old, match: { olderThan: 90m }, actions: [{ addFlags: [$Old] }] }
  - { name: young, match: { newerThan: 2h }, actions: [{ addFlags: [$Young] }] }
  - { name: not-old, match: { not: { olderThan: 90m } }, actions: [{ addFlags: [$NotOld] }] }
`),
      dovecot.account(user),
      { state: stateStore, dryRun: false },
    );
    assert.deepEqual(
      summary.rules.map((rule) => rule.error),
      [undefined, undefined, undefined],
    );
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(state, 'INBOX', '$Old'), ['m100', 'm180', 'm1800']);
    assert.deepEqual(idsIn(state, 'INBOX', '$Young'), ['m100', 'm30', 'm80']);
    assert.deepEqual(idsIn(state, 'INBOX', '$NotOld'), ['m30', 'm80']);
  });
});

describe('a server that refuses command lines over 8 KB (imap_max_line_length = 8k)', () => {
  const MATCHES = 20_000;
  let dovecot: TestDovecot;
  before(async () => {
    // Without SEARCHRES every action must name its UIDs: the case where line length matters.
    dovecot = await startDovecot({ maxLineLength: '8k', withoutCapabilities: ['SEARCHRES'] });
  });
  after(async () => {
    await dovecot?.stop();
  });

  it('acts on 20,000 scattered matches with every line under the limit', async () => {
    const user = dovecot.addUser();
    const messages = [];
    for (let i = 0; i < MATCHES; i++) {
      messages.push({ raw: makeMail({ from: 'bulk@sender.test', subject: `item ${i}`, text: 'x' }) });
      messages.push({ raw: makeMail({ from: 'person@x.test', subject: `note ${i}`, text: 'y' }) });
    }
    dovecot.seed(user, 'INBOX', messages);
    const ruleset = rulesetOf(`rules:
  - { name: move-bulk, match: { from: bulk@ }, actions: [{ addFlags: [$Bulk] }, { moveTo: Bulk }], limit: ${MATCHES} }
`);
    const { summary, lines } = await runRecorded(dovecot, user, ruleset, {
      state: stateStore,
      dryRun: false,
    });
    assert.equal(summary.rules[0]?.error, undefined, summary.rules[0]?.error);
    assert.equal(summary.rules[0]?.acted, MATCHES);
    // Dozens of chunks, yet every STORE and MOVE went through (Dovecot answers BAD to a longer line).
    const moves = lines.filter((line) => /^UID MOVE /.test(line));
    assert.ok(moves.length >= 10, `${moves.length} MOVE lines`);
    const status = await dovecot.doveadm('mailbox', 'status', '-u', user, 'messages', 'Bulk', 'INBOX');
    assert.match(status, new RegExp(`Bulk messages=${MATCHES}`));
    assert.match(status, new RegExp(`INBOX messages=${MATCHES}`));
  });
});

describe('a server without SPECIAL-USE (RFC 6154)', () => {
  let dovecot: TestDovecot;
  before(async () => {
    dovecot = await startDovecot({ withoutCapabilities: ['SPECIAL-USE'], specialUseTrash: false });
  });
  after(async () => {
    await dovecot?.stop();
  });
  const BIN_NEWS = rulesetOf(
    'rules:\n  - { name: bin-news, match: { from: news@ }, actions: [{ delete: trash }] }\n',
  );

  it('moves to the mailbox named Trash', async () => {
    const user = seedWithForeignDeleted(dovecot);
    dovecot.seed(user, 'Trash', [{ raw: makeMail({ messageId: 'old', from: 'x@y.test' }) }]);
    const summary = await runRuleset(BIN_NEWS, dovecot.account(user), { state: stateStore, dryRun: false });
    assert.equal(summary.rules[0]?.error, undefined);
    assert.deepEqual(summary.rules[0]?.actions, [{ type: 'delete', target: 'Trash', count: 2 }]);
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(state, 'Trash'), ['n1', 'n2', 'old']);
    assert.deepEqual(idsIn(state, 'INBOX'), ['keep']);
  });

  it('creates Trash when there is none', async () => {
    const user = seedWithForeignDeleted(dovecot);
    const summary = await runRuleset(BIN_NEWS, dovecot.account(user), { state: stateStore, dryRun: false });
    assert.equal(summary.rules[0]?.error, undefined);
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'Trash'), ['n1', 'n2']);
  });
});
