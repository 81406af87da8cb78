/**
 * Matches Dovecot 2.3's SEARCH simplifier answers wrongly when sent as one SEARCH (match/search-hazards.ts),
 * each found by the differential test of the offline evaluator: the compiler decides a part on the client, and the
 * rule's answer on the real server is the one RFC 3501 gives.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ImapSession } from '../../functions/imap/session.ts';
import { compileSearch } from '../../functions/match/compile-search.ts';
import type { MatchTree } from '../../functions/match/tree.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { makeMail } from '../helpers/mail.ts';
import { type OtherClient, otherClient } from '../helpers/other-client.ts';
import { serverMatches } from '../helpers/server-verdict.ts';

const DAY = 86_400_000;

describe('matches one SEARCH would get wrong: Dovecot 2.3 simplifying it, or imapflow grouping it', () => {
  let dovecot: TestDovecot;
  let session: ImapSession;
  let other: OtherClient;
  const now = new Date();

  before(async () => {
    dovecot = await startDovecot();
    const user = dovecot.addUser();
    other = await otherClient(dovecot, user);
    // 185 days old, small, unflagged, with an X-Mailer; and a large one.
    await other.deliver('INBOX', makeMail({ subject: 'old', headers: { 'X-Mailer': 'ACME mail' } }), {
      internalDate: new Date(now.getTime() - 185 * DAY),
    });
    await other.deliver('INBOX', makeMail({ subject: 'large', text: 'x'.repeat(5000) }), {
      internalDate: new Date(now.getTime() - DAY),
      flags: ['\\Flagged'],
    });
    session = await ImapSession.connect(dovecot.account(user));
    await session.openMailbox('INBOX', true);
  });
  after(async () => {
    await other?.close();
    await session?.close();
    await dovecot?.stop();
  });

  const cases: { name: string; match: MatchTree; expected: number[] }[] = [
    {
      name: 'two negated bounds of one kind: not (older than 400 days and older than 90 minutes)',
      match: { not: { olderThan: '400d', any: [{ olderThan: '90m' }, { olderThan: '30d' }] } },
      expected: [1, 2],
    },
    {
      name: 'a negated list inside a list: larger than 1 KB, or not (an X-Mailer and larger than 1 KB)',
      match: { any: [{ larger: '1KB' }, { not: { header: { 'X-Mailer': 'mail' }, larger: '1KB' } }] },
      expected: [1, 2],
    },
    {
      name: 'one condition twice in a branch: unflagged, and (unflagged and not unflagged, or unflagged and not flagged)',
      match: {
        flagged: false,
        any: [
          { flagged: false, not: { flagged: false } },
          { flagged: false, not: { flagged: true } },
        ],
      },
      expected: [1],
    },
    {
      name: 'two negated system flags in an OR: unseen or unflagged, which Dovecot takes for unseen and unflagged',
      match: { any: [{ seen: false }, { flagged: false }] },
      expected: [1, 2],
    },
    {
      name: 'a NOT of two system flags: not (flagged and seen)',
      match: { not: { flagged: true, seen: true } },
      expected: [1, 2],
    },
    {
      name: 'a NOT of one header of two fields, which imapflow would send without parentheses',
      match: { not: { header: { 'X-Mailer': 'mail', Subject: 'old' } } },
      expected: [2],
    },
    {
      name: 'an OR branch of one header of two fields',
      match: { any: [{ header: { 'X-Mailer': 'mail', Subject: 'zzz' } }, { subject: 'large' }] },
      expected: [2],
    },
    {
      name: 'a one-branch any inside an any, which imapflow would send as its branch, ungrouped',
      match: { flagged: true, any: [{ any: [{ subject: 'large', larger: '1KB' }] }, { subject: 'old' }] },
      expected: [2],
    },
  ];
  for (const { name, match, expected } of cases) {
    it(name, async () => {
      assert.deepEqual([...(await serverMatches(session, match, now))].sort(), expected);
      assert.ok(compileSearch(match, { now, hasWithin: true }).check, 'a part is decided on the client');
    });
  }

  it('still sends a negated list in the top-level list as one SEARCH, which Dovecot gets right', async () => {
    const match: MatchTree = { subject: 'old', not: { header: { 'X-Mailer': 'other' }, larger: '1KB' } };
    assert.equal(compileSearch(match, { now, hasWithin: true }).check, undefined);
    assert.deepEqual([...(await serverMatches(session, match, now))], [1]);
  });
});
