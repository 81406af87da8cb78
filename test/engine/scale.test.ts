import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runRuleset } from '../../functions/engine/run.ts';
import { chunkUidSet } from '../../functions/imap/uid-set.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { makeMail } from '../helpers/mail.ts';
import { rulesetOf } from '../helpers/rulesets.ts';

const MATCHES = 5000;

let dovecot: TestDovecot;
before(async () => {
  dovecot = await startDovecot();
});
after(async () => {
  await dovecot?.stop();
});

/** `count` bulk messages; with `interleave`, each is followed by one that no rule matches. */
function seedBulk(count: number, interleave: boolean): string {
  const user = dovecot.addUser();
  const messages = [];
  for (let i = 0; i < count; i++) {
    messages.push({ raw: makeMail({ from: 'bulk@sender.test', subject: `[bulk] item ${i}`, text: 'x' }) });
    if (interleave)
      messages.push({ raw: makeMail({ from: 'person@x.test', subject: `note ${i}`, text: 'y' }) });
  }
  dovecot.seed(user, 'INBOX', messages);
  return user;
}

describe('IMAP command count does not grow with the number of matches', () => {
  it('handles 5,000 consecutive matches with one SEARCH, one STORE and one MOVE', async () => {
    const user = seedBulk(MATCHES, false);
    const summary = await runRuleset(
      rulesetOf(`rules:
  - name: file-bulk
    match: { from: bulk@ }
    actions: [{ addFlags: [$Bulk] }, { moveTo: Bulk }]
    limit: ${MATCHES}
`),
      dovecot.account(user),
      { dryRun: false },
    );
    const rule = summary.rules[0];
    assert.equal(rule?.error, undefined);
    assert.deepEqual([rule?.matched, rule?.acted], [MATCHES, MATCHES]);
    // LIST and LSUB (imapflow looks the mailbox up once per connection), SELECT, UID SEARCH, UID STORE,
    // UID MOVE answered [TRYCREATE], CREATE and SUBSCRIBE of Bulk, UID MOVE again.
    assert.equal(rule?.imapCommands, 9);
    const status = await dovecot.doveadm('mailbox', 'status', '-u', user, 'messages', 'Bulk');
    assert.equal(status.trim(), `Bulk messages=${MATCHES}`);
  });

  it('chunks 5,000 scattered matches into command lines of bounded length, with a client-side check', async () => {
    const user = seedBulk(MATCHES, true);
    const summary = await runRuleset(
      rulesetOf(`rules:
  - name: tag-bulk
    match: { from: bulk@, subjectMatches: '^\\[bulk\\]' }
    actions: [{ addFlags: [$Bulk] }]
    limit: ${MATCHES}
`),
      dovecot.account(user),
      { dryRun: false },
    );
    const rule = summary.rules[0];
    assert.equal(rule?.error, undefined);
    assert.equal(rule?.matched, MATCHES);
    // Matches are UIDs 1, 3, 5, …: nothing to compress, so the set is split by line length only.
    const chunks = chunkUidSet(Array.from({ length: MATCHES }, (_, i) => 1 + 2 * i)).length;
    assert.ok(chunks >= 3 && chunks <= 6, `${chunks} chunks`);
    // LIST, LSUB, SELECT, UID SEARCH, then one UID FETCH and one UID STORE per chunk.
    assert.equal(rule?.imapCommands, 4 + 2 * chunks);
    const tagged = await dovecot.doveadm('search', '-u', user, 'mailbox', 'INBOX', 'keyword', '$Bulk');
    assert.equal(tagged.trim().split('\n').length, MATCHES);
  });
});
