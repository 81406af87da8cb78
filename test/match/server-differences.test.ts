/**
 * Where Cyrus and Courier decide a match key otherwise than Dovecot, whose SEARCH the offline evaluator follows
 * (docs/rules.md, "Where servers differ"): each difference shown on the real server, the evaluator's verdict beside
 * it, and Dovecot agreeing with the evaluator on the same message.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ImapSession } from '../../functions/imap/session.ts';
import { matchesOffline } from '../../functions/match/evaluate.ts';
import { messageFacts } from '../../functions/match/message-file.ts';
import type { MatchTree } from '../../functions/match/tree.ts';
import { startCourier } from '../helpers/courier.ts';
import { startCyrus } from '../helpers/cyrus.ts';
import { startDovecot } from '../helpers/dovecot.ts';
import type { TestImapServer } from '../helpers/imap-server.ts';
import { otherClient } from '../helpers/other-client.ts';
import { serverMatches } from '../helpers/server-verdict.ts';

function message(headers: readonly string[], body: readonly string[]): Buffer {
  const common = [
    'From: Billing Team <billing@acme.com>',
    'To: Ana <ana@example.org>, bob@example.org',
    'MIME-Version: 1.0',
  ];
  return Buffer.from([...common, ...headers, '', ...body, ''].join('\r\n'), 'utf8');
}

const MESSAGES = {
  accents: message(['Subject: plain', 'Content-Type: text/plain; charset=utf-8'], ['a naïve café']),
  latin1: message(
    [
      'Subject: latin1',
      'Content-Type: text/plain; charset=iso-8859-1',
      'Content-Transfer-Encoding: quoted-printable',
    ],
    ['caf=E9 cr=E8me'],
  ),
  forwarded: message(
    ['Subject: forwarded', 'Content-Type: multipart/mixed; boundary="b"'],
    [
      '--b',
      'Content-Type: text/plain',
      '',
      'see below',
      '--b',
      'Content-Type: message/rfc822',
      '',
      'Subject: inner subject',
      '',
      'inner text',
      '--b--',
    ],
  ),
  rawSubject: message(['Subject: Grüße aus Köln', 'Content-Type: text/plain'], ['hello']),
  sized: message(['Subject: sized', 'Content-Type: text/plain'], ['x'.repeat(400), 'y', 'z', 'w']),
  html: message(['Subject: html', 'Content-Type: text/html; charset=utf-8'], ['<p>a <b>bold</b> report</p>']),
  pdf: message(
    ['Subject: pdf', 'Content-Type: multipart/mixed; boundary="b"'],
    [
      '--b',
      'Content-Type: text/plain',
      '',
      'hello',
      '--b',
      'Content-Type: application/pdf; name="a.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from('secret meeting').toString('base64'),
      '--b--',
    ],
  ),
};
type Name = keyof typeof MESSAGES;
/** Every message: each has the same From and To. */
const ALL = Object.keys(MESSAGES) as Name[];

/** One difference: a match, the messages the server finds with it, and the ones the evaluator (and Dovecot) find. */
interface Difference {
  readonly name: string;
  readonly match: MatchTree;
  readonly server: readonly Name[];
  readonly offline: readonly Name[];
}

/** RFC822.SIZE of `sized`: its bytes, CRLF line ends as written. */
const SIZE = MESSAGES.sized.length;

/** What the differential test found Dovecot to do, which the evaluator follows (server and offline agree). */
const DOVECOT: readonly Difference[] = [
  {
    name: "BODY does not search an attachment's bytes, only text/ and message/ parts",
    match: { body: 'secret meeting' },
    server: [],
    offline: [],
  },
  {
    name: 'BODY searches HTML as written, tags included',
    match: { body: '<b>' },
    server: ['html'],
    offline: ['html'],
  },
  {
    name: 'FROM reads a name that is not one atom quoted',
    match: { from: '"Billing Team" <billing@' },
    server: ALL,
    offline: ALL,
  },
];

const CYRUS: readonly Difference[] = [
  {
    name: 'accents are ignored: naive finds naïve',
    match: { body: 'NAIVE' },
    server: ['accents'],
    offline: [],
  },
  {
    name: 'the text of an ISO-8859-1 quoted-printable part is not found',
    match: { body: 'crème' },
    server: [],
    offline: ['latin1'],
  },
  {
    name: "BODY searches an attached message's header too",
    match: { body: 'inner subject' },
    server: ['forwarded'],
    offline: [],
  },
  {
    name: 'a Subject in raw UTF-8 (not RFC 2047) is not found',
    match: { subject: 'Köln' },
    server: [],
    offline: ['rawSubject'],
  },
  {
    name: 'FROM reads the header as written, not as Dovecot writes it',
    match: { from: 'team <bill' },
    server: ALL,
    offline: [],
  },
];
const COURIER: readonly Difference[] = [
  {
    name: 'no canonical decomposition: cafe does not find café',
    match: { body: 'cafe' },
    server: [],
    offline: ['accents', 'latin1'],
  },
  {
    name: 'an address without a name is not in angle brackets',
    match: { to: '<bob' },
    server: [],
    offline: ALL,
  },
  {
    name: 'FROM reads the header as written, not as Dovecot writes it',
    match: { from: 'team <bill' },
    server: ALL,
    offline: [],
  },
  {
    name: 'LARGER compares the size with LF line ends, not RFC822.SIZE',
    match: { larger: SIZE - 3 },
    server: [],
    offline: ['sized'],
  },
  // Not differences the evaluator shows: what the compiler sends for a NOT of a NOT (compile-search.ts).
  {
    name: 'a NOT of a NOT, which Courier refuses, is sent as what it negates',
    match: { subject: 'plain', not: { not: { to: 'ana@' } } },
    server: ['accents'],
    offline: ['accents'],
  },
  {
    name: 'a NOT of a NOT on a key taken already is decided on the client',
    match: { to: 'bob', not: { not: { to: 'ana@' } } },
    server: ALL,
    offline: ALL,
  },
];

function differences(
  label: string,
  start: () => Promise<TestImapServer>,
  cases: readonly Difference[],
): void {
  describe(`where ${label} differs from Dovecot`, () => {
    let server: TestImapServer;
    let dovecot: TestImapServer;
    const sessions = new Map<TestImapServer, { session: ImapSession; uids: Map<number, Name> }>();
    const now = new Date();

    async function load(target: TestImapServer) {
      const user = target.addUser();
      const other = await otherClient(target, user);
      await other.create('Probe');
      for (const raw of Object.values(MESSAGES)) await other.deliver('Probe', raw);
      await other.close();
      const session = await ImapSession.connect(target.account(user));
      await session.openMailbox('Probe', true);
      const uids = await session.searchUids({ all: true });
      const names = Object.keys(MESSAGES) as Name[];
      sessions.set(target, { session, uids: new Map(uids.map((uid, index) => [uid, names[index] as Name])) });
    }
    before(async () => {
      [server, dovecot] = await Promise.all([
        start(),
        startDovecot().then((each) => ({ ...each, name: 'Dovecot 2.3' })),
      ]);
      await load(server);
      await load(dovecot);
    });
    after(async () => {
      for (const { session } of sessions.values()) await session.close();
      await Promise.all([server?.stop(), dovecot?.stop()]);
    });

    async function found(target: TestImapServer, match: MatchTree): Promise<Name[]> {
      const { session, uids } = sessions.get(target) ?? assert.fail('not started');
      return [...(await serverMatches(session, match, now))].map((uid) => uids.get(uid) as Name).sort();
    }

    for (const difference of cases) {
      it(difference.name, async () => {
        const offline = (Object.keys(MESSAGES) as Name[]).filter((name) =>
          matchesOffline(difference.match, messageFacts(MESSAGES[name]), { now }),
        );
        assert.deepEqual(offline.sort(), [...difference.offline].sort(), 'the evaluator');
        assert.deepEqual(await found(dovecot, difference.match), [...difference.offline].sort(), 'Dovecot');
        assert.deepEqual(await found(server, difference.match), [...difference.server].sort(), label);
      });
    }
  });
}

differences(
  'Dovecot 2.3 (itself)',
  () => startDovecot().then((each) => ({ ...each, name: 'Dovecot 2.3' })),
  DOVECOT,
);
differences('Cyrus 3.6', () => startCyrus({ namespace: 'alt-slash' }), CYRUS);
differences('Courier-IMAP 5', () => startCourier(), COURIER);
