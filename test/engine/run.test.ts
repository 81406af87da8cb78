import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runRuleset } from '../../functions/engine/run.ts';
import { CORPUS, MATCH_CASES } from '../helpers/corpus.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { makeMail } from '../helpers/mail.ts';
import { idsIn, rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';

/** Where these runs keep their state: one real file store for the whole file. */
const stateStore = testState();

let dovecot: TestDovecot;

before(async () => {
  dovecot = await startDovecot();
});
after(async () => {
  await dovecot?.stop();
});

function userWithCorpus(): string {
  const user = dovecot.addUser();
  dovecot.seed(user, 'INBOX', CORPUS);
  return user;
}

describe('runRuleset match keys (real Dovecot)', () => {
  it('selects exactly the expected messages for every match key', async () => {
    const user = userWithCorpus();
    // One rule per case, each tagging its matches with its own keyword, all in one run and one connection.
    const rules = MATCH_CASES.map(
      (testCase, index) =>
        `  - name: case${index}\n    match: ${testCase.match}\n    actions: [{ addFlags: [$Case${index}] }]`,
    ).join('\n');
    const summary = await runRuleset(rulesetOf(`rules:\n${rules}\n`), dovecot.account(user), {
      state: stateStore,
      dryRun: false,
    });

    assert.equal(summary.error, undefined);
    const state = await dovecot.mailboxState(user);
    MATCH_CASES.forEach((testCase, index) => {
      assert.equal(summary.rules[index]?.error, undefined, `case ${testCase.match}`);
      assert.deepEqual(
        idsIn(state, 'INBOX', `$Case${index}`),
        testCase.expected.sort(),
        `match ${testCase.match}`,
      );
    });
    // Matching fetched headers and BODYSTRUCTURE with BODY.PEEK: nothing became \Seen.
    assert.deepEqual(idsIn(state, 'INBOX', '\\Seen'), ['inv1', 'news1']);
  });

  it('lets a later rule see keywords an earlier rule set (keyword / notKeyword)', async () => {
    const user = userWithCorpus();
    const ruleset = rulesetOf(`rules:
  - { name: tag, match: { from: billing@ }, actions: [{ addFlags: [$Billing] }] }
  - { name: has, match: { keyword: $Billing }, actions: [{ addFlags: [$Has] }] }
  - { name: lacks, match: { notKeyword: $Billing, seen: true }, actions: [{ addFlags: [$Lacks] }] }
`);
    await runRuleset(ruleset, dovecot.account(user), { state: stateStore, dryRun: false });
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(state, 'INBOX', '$Has'), ['inv1', 'inv2']);
    assert.deepEqual(idsIn(state, 'INBOX', '$Lacks'), ['news1']);
  });
});

describe('runRuleset actions (real Dovecot)', () => {
  it('adds and removes flags and keywords', async () => {
    const user = userWithCorpus();
    const summary = await runRuleset(
      rulesetOf(`rules:
  - name: flags
    match: { from: news@ }
    actions: [{ addFlags: ['\\Seen', $News] }, { removeFlags: ['\\Flagged'] }]
`),
      dovecot.account(user),
      { state: stateStore, dryRun: false },
    );
    assert.deepEqual(summary.rules[0]?.actions, [
      { type: 'addFlags', target: '\\Seen $News', count: 2 },
      { type: 'removeFlags', target: '\\Flagged', count: 2 },
    ]);
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(state, 'INBOX', '$News'), ['news1', 'news2']);
    assert.deepEqual(idsIn(state, 'INBOX', '\\Seen'), ['inv1', 'news1', 'news2']);
    assert.deepEqual(idsIn(state, 'INBOX', '\\Flagged'), []);
  });

  it('copies into a mailbox it creates, leaving the originals', async () => {
    const user = userWithCorpus();
    const summary = await runRuleset(
      rulesetOf(
        'rules:\n  - { name: copy, match: { from: billing@ }, actions: [{ copyTo: Finance/Copies }] }\n',
      ),
      dovecot.account(user),
      { state: stateStore, dryRun: false },
    );
    assert.equal(summary.rules[0]?.error, undefined);
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(state, 'Finance/Copies'), ['inv1', 'inv2']);
    assert.equal(idsIn(state, 'INBOX').length, CORPUS.length);
  });

  it('moves into a mailbox that does not exist yet, creating it', async () => {
    const user = userWithCorpus();
    const summary = await runRuleset(
      rulesetOf(`rules:
  - name: file-invoices
    match: { from: billing@, attachment: { type: application/pdf } }
    actions: [{ addFlags: [$Invoice] }, { moveTo: Finance/Invoices }]
`),
      dovecot.account(user),
      { state: stateStore, dryRun: false },
    );
    assert.equal(summary.rules[0]?.error, undefined);
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(state, 'Finance/Invoices', '$Invoice'), ['inv1']);
    assert.ok(!idsIn(state, 'INBOX').includes('inv1'));
    assert.equal(idsIn(state, 'INBOX').length, CORPUS.length - 1);
  });

  it('deletes to Trash, and expunges exactly the matched messages', async () => {
    const user = dovecot.addUser();
    dovecot.seed(user, 'INBOX', [
      ...CORPUS,
      // Marked \Deleted by another client and not matched: an expunge must leave it alone.
      { raw: makeMail({ messageId: 'other-deleted', from: 'news@letters.test' }), flags: 'T' },
    ]);
    const summary = await runRuleset(
      rulesetOf(`rules:
  - { name: trash-news, match: { header: { List-Unsubscribe: "" } }, actions: [{ delete: trash }] }
  - { name: purge-alerts, match: { from: monitoring@ }, actions: [{ delete: expunge }] }
  - { name: all-news, match: { from: news@ }, actions: [{ addFlags: [$Again] }] }
`),
      dovecot.account(user),
      { state: stateStore, dryRun: false },
    );
    assert.deepEqual(
      summary.rules.map((rule) => [rule.matched, rule.error]),
      [
        [2, undefined],
        [2, undefined],
        // The \Deleted message from news@ is left alone, and nothing else from news@ remains.
        [0, undefined],
      ],
    );
    assert.deepEqual(summary.rules[0]?.actions, [{ type: 'delete', target: 'Trash', count: 2 }]);
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(state, 'Trash'), ['news1', 'news2']);
    assert.deepEqual(idsIn(state, 'INBOX'), ['inv1', 'inv2', 'other-deleted', 'personal']);
  });

  it('flags a seen message with a rule that sets two system flags (Dovecot 2.3 merges OR UNSEEN UNFLAGGED wrongly)', async () => {
    const user = dovecot.addUser();
    dovecot.seed(user, 'INBOX', [
      { raw: makeMail({ messageId: 'seen-only', from: 'boss@x.test' }), flags: 'S' },
      { raw: makeMail({ messageId: 'neither', from: 'boss@x.test' }) },
      { raw: makeMail({ messageId: 'both', from: 'boss@x.test' }), flags: 'SF' },
    ]);
    const ruleset = rulesetOf(
      "rules:\n  - { name: boss, match: { from: boss@ }, actions: [{ addFlags: ['\\Seen', '\\Flagged'] }] }\n",
    );
    const summary = await runRuleset(ruleset, dovecot.account(user), { state: stateStore, dryRun: false });
    // SEARCH leaves out the no-ops: the two messages lacking a flag are matched and acted on.
    assert.deepEqual([summary.rules[0]?.matched, summary.rules[0]?.acted], [2, 2]);
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'INBOX', '\\Flagged'), [
      'both',
      'neither',
      'seen-only',
    ]);
  });

  it('acts on at most limit messages per run, oldest UIDs first, and the next run continues', async () => {
    const user = dovecot.addUser();
    dovecot.seed(
      user,
      'INBOX',
      Array.from({ length: 5 }, (_, i) => ({
        raw: makeMail({ messageId: `bulk${i}`, from: 'bulk@x.test' }),
      })),
    );
    const ruleset = rulesetOf(
      'rules:\n  - { name: tag, match: { notKeyword: $Done }, actions: [{ addFlags: [$Done] }], limit: 3 }\n',
    );
    const first = await runRuleset(ruleset, dovecot.account(user), { state: stateStore, dryRun: false });
    assert.deepEqual([first.rules[0]?.matched, first.rules[0]?.acted], [5, 3]);
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'INBOX', '$Done'), ['bulk0', 'bulk1', 'bulk2']);
    const second = await runRuleset(ruleset, dovecot.account(user), { state: stateStore, dryRun: false });
    assert.deepEqual([second.rules[0]?.matched, second.rules[0]?.acted], [2, 2]);
    assert.equal(idsIn(await dovecot.mailboxState(user), 'INBOX', '$Done').length, 5);
  });

  for (const stop of [false, true]) {
    it(`lets a flag-only rule's backlog drain: what already carries its flags uses up no limit (stop: ${stop})`, async () => {
      const user = dovecot.addUser();
      const slow = Array.from({ length: 10 }, (_, i) => ({
        raw: makeMail({ messageId: `slow${i}`, subject: 'slow' }),
      }));
      dovecot.seed(user, 'INBOX', slow);
      // The match itself does not exclude tagged messages: they still match, run after run.
      const ruleset = rulesetOf(
        `rules:\n  - { name: slow, match: { subject: slow }, limit: 4, stop: ${stop}, actions: [{ addFlags: [$Slow] }] }\n`,
      );
      const acted: (number | undefined)[] = [];
      for (let run = 0; run < 4; run++) {
        const summary = await runRuleset(ruleset, dovecot.account(user), {
          state: stateStore,
          dryRun: false,
        });
        acted.push(summary.rules[0]?.acted);
      }
      assert.deepEqual(acted, [4, 4, 2, 0]);
      assert.equal(idsIn(await dovecot.mailboxState(user), 'INBOX', '$Slow').length, 10);
    });
  }
});

describe('runRuleset ordering (real Dovecot)', () => {
  const ORDERED = `rules:
  - name: file-billing
    match: { from: billing@ }
    actions: [{ moveTo: Finance }]
  - name: mark-monitoring
    match: { from: monitoring@ }
    actions: [{ addFlags: [$Ops] }]
    stop: true
  - name: tag-everything-left
    match: { not: { keyword: $Nothing } }
    actions: [{ addFlags: [$Rest] }]
`;

  it('runs rules in order: moved messages and stop: true messages are not seen by later rules', async () => {
    const user = userWithCorpus();
    const summary = await runRuleset(rulesetOf(ORDERED), dovecot.account(user), {
      state: stateStore,
      dryRun: false,
    });
    assert.deepEqual(
      summary.rules.map((rule) => [rule.name, rule.matched]),
      [
        ['file-billing', 2],
        ['mark-monitoring', 2],
        ['tag-everything-left', 3],
      ],
    );
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(state, 'Finance'), ['inv1', 'inv2']);
    assert.deepEqual(idsIn(state, 'INBOX', '$Rest'), ['news1', 'news2', 'personal']);
  });

  it('dry run predicts the real run and changes nothing (EXAMINE)', async () => {
    const user = userWithCorpus();
    const before = await dovecot.mailboxState(user);
    const dry = await runRuleset(rulesetOf(ORDERED), dovecot.account(user), {
      state: stateStore,
      dryRun: true,
    });
    assert.deepEqual(await dovecot.mailboxState(user), before);
    assert.ok(!dry.rules.some((rule) => rule.imapCommands > 0 && rule.error));
    const real = await runRuleset(rulesetOf(ORDERED), dovecot.account(user), {
      state: stateStore,
      dryRun: false,
    });
    const plan = (summary: typeof dry) =>
      summary.rules.map((rule) => [rule.name, rule.matched, rule.acted, rule.actions]);
    assert.deepEqual(plan(dry), plan(real));
    assert.deepEqual(
      dry.rules[0]?.sample?.map((message) => [message.from, message.subject]),
      [
        ['billing@acme.test', 'Invoice 1001'],
        ['billing@acme.test', 'INVOICE 1002 reminder'],
      ],
    );
  });

  it('dry run of every action type leaves flags, UIDs and mailboxes unchanged', async () => {
    const user = userWithCorpus();
    const before = await dovecot.mailboxState(user);
    const summary = await runRuleset(
      rulesetOf(`rules:
  - { name: a, match: { from: anna@ }, actions: [{ addFlags: ['\\Seen', $X] }, { removeFlags: ['\\Draft'] }, { copyTo: New/Box }, { moveTo: Other } ] }
  - { name: b, match: { from: news@ }, actions: [{ delete: trash }] }
  - { name: c, match: { from: monitoring@ }, actions: [{ delete: expunge }] }
`),
      dovecot.account(user),
      { state: stateStore, dryRun: true },
    );
    assert.deepEqual(
      summary.rules.map((rule) => [rule.acted, rule.error]),
      [
        [1, undefined],
        [2, undefined],
        [2, undefined],
      ],
    );
    assert.deepEqual(await dovecot.mailboxState(user), before);
    assert.deepEqual((await dovecot.doveadm('mailbox', 'list', '-u', user)).trim().split('\n'), ['INBOX']);
  });
});

describe('runRuleset failures (real Dovecot)', () => {
  it('reports a mailbox that does not exist and still runs the other rules', async () => {
    const user = userWithCorpus();
    const summary = await runRuleset(
      rulesetOf(`rules:
  - { name: missing, mailbox: Nope, match: { seen: true }, actions: [{ addFlags: [$X] }] }
  - { name: fine, match: { seen: true }, actions: [{ addFlags: [$Y] }] }
`),
      dovecot.account(user),
      { state: stateStore, dryRun: false },
    );
    assert.equal(summary.rules[0]?.errorType, 'MailboxNotFoundError');
    assert.equal(summary.rules[0]?.error, 'mailbox "Nope" does not exist');
    assert.equal(summary.rules[1]?.error, undefined);
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'INBOX', '$Y'), ['inv1', 'news1']);
  });

  it('reports a wrong password as ImapAuthError without the password', async () => {
    const user = userWithCorpus();
    const password = 'Wr0ng"pa\\ss-wörd';
    const summary = await runRuleset(
      rulesetOf('rules:\n  - { name: a, match: { seen: true }, actions: [{ addFlags: [$X] }] }\n'),
      dovecot.account(user, { password }),
      { state: stateStore, dryRun: false },
    );
    assert.equal(summary.errorType, 'ImapAuthError');
    assert.match(summary.error ?? '', /was rejected/);
    assert.ok(!JSON.stringify(summary).includes(password));
    assert.ok(!JSON.stringify(summary).includes('pa\\\\ss'));
  });

  it('runs over messages with no Date, raw 8-bit headers, broken encoded words and unclosed MIME', async () => {
    const user = dovecot.addUser();
    dovecot.seed(user, 'INBOX', [
      { raw: makeMail({ messageId: 'nodate', date: null, subject: 'no date here' }) },
      {
        raw: Buffer.from(
          'From: Jörg <j@x.test>\r\nSubject: Grüße roh\r\nMessage-ID: <raw8bit@test>\r\n\r\nhi\r\n',
          'utf8',
        ),
      },
      { raw: makeMail({ messageId: 'badword', subject: '=?UTF-8?B?####?= report' }) },
      {
        raw:
          'From: a@x.test\r\nSubject: unclosed\r\nMessage-ID: <unclosed@test>\r\nMIME-Version: 1.0\r\n' +
          'Content-Type: multipart/mixed; boundary="never"\r\n\r\n--never\r\nContent-Type: application/pdf; name="a.pdf"\r\n' +
          'Content-Disposition: attachment; filename="a.pdf"\r\n\r\nJVBERi0=\r\n',
      },
    ]);
    const summary = await runRuleset(
      rulesetOf(`rules:
  - { name: subjects, match: { subjectMatches: 'date|roh|report|unclosed' }, actions: [{ addFlags: [$S] }] }
  - { name: pdfs, match: { attachment: { type: application/pdf } }, actions: [{ addFlags: [$P] }] }
  - { name: senders, match: { fromMatches: 'j@x' }, actions: [{ addFlags: [$F] }] }
`),
      dovecot.account(user),
      { state: stateStore, dryRun: false },
    );
    assert.deepEqual(
      summary.rules.map((rule) => rule.error),
      [undefined, undefined, undefined],
    );
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(state, 'INBOX', '$S'), ['badword', 'nodate', 'raw8bit', 'unclosed']);
    assert.deepEqual(idsIn(state, 'INBOX', '$P'), ['unclosed']);
    assert.deepEqual(idsIn(state, 'INBOX', '$F'), ['raw8bit']);
  });
});
