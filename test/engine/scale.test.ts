import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runRuleset } from '../../functions/engine/run.ts';
import { chunkUidSet } from '../../functions/imap/uid-set.ts';
import type { Ruleset } from '../../functions/rules/schema.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { makeMail } from '../helpers/mail.ts';
import { runRecorded } from '../helpers/recorded-run.ts';
import { rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';

/** Where these runs keep their state: one real file store for the whole file. */
const stateStore = testState();

const MATCHES = 5000;

/** Dovecot as shipped (SEARCHRES, RFC 5182), and one without it, as older servers are. */
let dovecot: TestDovecot;
let withoutSearchRes: TestDovecot;
before(async () => {
  [dovecot, withoutSearchRes] = await Promise.all([
    startDovecot(),
    startDovecot({ withoutCapabilities: ['SEARCHRES'] }),
  ]);
});
after(async () => {
  await Promise.all([dovecot?.stop(), withoutSearchRes?.stop()]);
});

/** `count` bulk messages; with `interleave`, each is followed by one that no rule matches. */
function seedBulk(server: TestDovecot, count: number, interleave: boolean): string {
  const user = server.addUser();
  const messages = [];
  for (let i = 0; i < count; i++) {
    messages.push({ raw: makeMail({ from: 'bulk@sender.test', subject: `[bulk] item ${i}`, text: 'x' }) });
    if (interleave)
      messages.push({ raw: makeMail({ from: 'person@x.test', subject: `note ${i}`, text: 'y' }) });
  }
  server.seed(user, 'INBOX', messages);
  return user;
}

/** Runs `ruleset` through a recording proxy, to read the UID command lines it sent. */
async function runAndRecord(server: TestDovecot, user: string, ruleset: Ruleset) {
  const { summary, lines } = await runRecorded(server, user, ruleset, { state: stateStore, dryRun: false });
  return { rule: summary.rules[0], lines: lines.filter((line) => line.startsWith('UID ')) };
}

const FILE_BULK = rulesetOf(`rules:
  - name: file-bulk
    match: { from: bulk@ }
    actions: [{ addFlags: [$Bulk] }, { moveTo: Bulk }]
    limit: ${MATCHES}
`);

describe('IMAP command count does not grow with the number of matches', () => {
  it('handles 5,000 consecutive matches with one SEARCH, one STORE and one MOVE (and the history’s SEARCH and sample)', async () => {
    const user = seedBulk(dovecot, MATCHES, false);
    const summary = await runRuleset(FILE_BULK, dovecot.account(user), { state: stateStore, dryRun: false });
    const rule = summary.rules[0];
    assert.equal(rule?.error, undefined);
    assert.deepEqual([rule?.matched, rule?.acted], [MATCHES, MATCHES]);
    // LIST and LSUB (imapflow looks the mailbox up once per connection), SELECT, UID SEARCH, the history's UID
    // FETCH of five envelopes (its sample) and UID SEARCH for what lacks $Bulk, UID STORE, UID MOVE answered
    // [TRYCREATE], CREATE and SUBSCRIBE of Bulk, UID MOVE again.
    assert.equal(rule?.imapCommands, 11);
    const status = await dovecot.doveadm('mailbox', 'status', '-u', user, 'messages', 'Bulk');
    assert.equal(status.trim(), `Bulk messages=${MATCHES}`);
  });

  it('acts on 5,000 scattered matches through the saved search result $ (RFC 5182): one line per action', async () => {
    const user = seedBulk(dovecot, MATCHES, true);
    const { rule, lines } = await runAndRecord(dovecot, user, FILE_BULK);
    assert.equal(rule?.error, undefined);
    assert.deepEqual([rule?.matched, rule?.acted], [MATCHES, MATCHES]);
    assert.match(lines[0] ?? '', /^UID SEARCH RETURN \(SAVE ALL\) FROM /);
    assert.deepEqual(lines.slice(1), [
      // For the history: a sample of five, and which of them lack $Bulk, so that an undo takes it off those only.
      'UID FETCH 1,3,5,7,9 (UID ENVELOPE INTERNALDATE)',
      'UID SEARCH RETURN (ALL) UID $ UNKEYWORD $Bulk',
      'UID STORE $ +FLAGS.SILENT ($Bulk)',
      'UID MOVE $ Bulk',
      'UID MOVE $ Bulk', // after [TRYCREATE] and CREATE
    ]);
    const state = await dovecot.mailboxState(user);
    assert.equal(state.get('Bulk')?.length, MATCHES);
    assert.ok(state.get('Bulk')?.every((message) => message.flags.includes('$Bulk')));
    // Every message no rule matched is still in INBOX, untouched.
    assert.equal(state.get('INBOX')?.length, MATCHES);
    assert.ok(state.get('INBOX')?.every((message) => message.flags.length === 0));
  });

  it('names exactly the first `limit` UIDs, never $, when the limit holds some matches back', async () => {
    const user = seedBulk(dovecot, 10, true);
    const { rule, lines } = await runAndRecord(
      dovecot,
      user,
      rulesetOf(`rules:
  - { name: tag-some, match: { from: bulk@ }, actions: [{ addFlags: [$Some] }], limit: 3 }
`),
    );
    assert.deepEqual([rule?.matched, rule?.acted], [10, 3]);
    // Bulk messages are UIDs 1, 3, 5, …
    assert.deepEqual(lines.slice(1), [
      'UID FETCH 1,3,5 (UID ENVELOPE INTERNALDATE)', // the history's sample
      'UID STORE 1,3,5 +FLAGS.SILENT ($Some)',
    ]);
  });

  it('without SEARCHRES, chunks 5,000 scattered matches into command lines of bounded length', async () => {
    const user = seedBulk(withoutSearchRes, MATCHES, true);
    const { rule, lines } = await runAndRecord(
      withoutSearchRes,
      user,
      rulesetOf(`rules:
  - name: tag-bulk
    match: { from: bulk@, subjectMatches: '^\\[bulk\\]' }
    actions: [{ addFlags: [$Bulk] }]
    limit: ${MATCHES}
`),
    );
    assert.equal(rule?.error, undefined);
    assert.equal(rule?.matched, MATCHES);
    // Matches are UIDs 1, 3, 5, …: nothing to compress, so the set is split by line length only.
    const chunks = chunkUidSet(Array.from({ length: MATCHES }, (_, i) => 1 + 2 * i)).length;
    assert.ok(chunks >= 3 && chunks <= 6, `${chunks} chunks`);
    // LIST, LSUB, SELECT, UID SEARCH, the history's sample (one UID FETCH), then one UID FETCH and one UID STORE
    // per chunk.
    assert.equal(rule?.imapCommands, 5 + 2 * chunks);
    assert.equal(lines.filter((line) => line.startsWith('UID STORE ')).length, chunks);
    assert.ok(!lines.some((line) => line.includes('$ ')));
    const tagged = await withoutSearchRes.doveadm(
      'search',
      '-u',
      user,
      'mailbox',
      'INBOX',
      'keyword',
      '$Bulk',
    );
    assert.equal(tagged.trim().split('\n').length, MATCHES);
  });
});
