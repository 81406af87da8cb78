/**
 * The offline evaluator (`mailsift test`, `mailsift explain`) against a real server: random messages (encodings,
 * charsets, multipart trees, attachments, attached messages, dates, flags) are appended to Dovecot, and for random
 * matches drawn from the registry the offline verdict on each message file must equal what Dovecot's SEARCH plus
 * the client checks decide, as a run decides it. Seeded with fast-check; the seed is printed, MAILSIFT_FC_SEED
 * replays one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import fc from 'fast-check';
import { ImapSession } from '../../functions/imap/session.ts';
import { explainMatch } from '../../functions/match/evaluate.ts';
import { MATCH_KEYS } from '../../functions/match/keys/index.ts';
import { messageFacts } from '../../functions/match/message-file.ts';
import type { MatchTree } from '../../functions/match/tree.ts';
import { MatchSchema } from '../../functions/rules/schema.ts';
import { startCourier } from '../helpers/courier.ts';
import { startCyrus } from '../helpers/cyrus.ts';
import { startDovecot } from '../helpers/dovecot.ts';
import type { TestImapServer } from '../helpers/imap-server.ts';
import { type OtherClient, otherClient } from '../helpers/other-client.ts';
import { LEAF_ARBITRARIES, matchArb, messageArb, type RandomMessage } from '../helpers/random-mail.ts';
import { serverMatches } from '../helpers/server-verdict.ts';

const MESSAGES = 12;
const MATCHES = 12;
/** Messages × matches per fast-check run; at least 2,000 pairs in all, in bounded time. */
const MIXED = { numRuns: 16, interruptAfterTimeLimit: 40_000, minPairs: 2_000 };
const PER_KEY = { numRuns: 2, interruptAfterTimeLimit: 4_000 };

interface Pairs {
  count: number;
  /** The first disagreement, said plainly: fast-check's own report would print every buffer of the batch. */
  disagreement?: string;
}

/** A server the evaluator is checked against: the keys drawn (all by default), and the bounds. */
interface Target {
  readonly name: string;
  readonly start: () => Promise<TestImapServer>;
  readonly keys?: readonly string[];
  readonly mixed: typeof MIXED;
  readonly perKey: boolean;
}

/**
 * The keys Cyrus and Courier decide as Dovecot does. Their text searches differ (accents, charsets, addresses as
 * written, an attached message's header): docs/rules.md lists each, test/match/server-differences.test.ts shows it.
 */
const SAME_ON_ALL = [
  'header',
  'seen',
  'flagged',
  'answered',
  'draft',
  'keyword',
  'notKeyword',
  'olderThan',
  'newerThan',
  'before',
  'since',
  'larger',
  'smaller',
  'subjectMatches',
  'fromMatches',
  'headerMatches',
  'attachment',
];

const TARGETS: readonly Target[] = [
  {
    name: 'Dovecot 2.3',
    start: async () => ({ ...(await startDovecot()), name: 'Dovecot 2.3' }),
    mixed: MIXED,
    perKey: true,
  },
  {
    name: 'Cyrus 3.6',
    start: () => startCyrus({ namespace: 'alt-slash' }),
    keys: SAME_ON_ALL,
    mixed: { numRuns: 6, interruptAfterTimeLimit: 20_000, minPairs: 500 },
    perKey: false,
  },
  {
    name: 'Courier-IMAP 5',
    start: () => startCourier(),
    // Courier's LARGER and SMALLER count LF line ends (server-differences.test.ts).
    keys: SAME_ON_ALL.filter((key) => key !== 'larger' && key !== 'smaller'),
    mixed: { numRuns: 6, interruptAfterTimeLimit: 20_000, minPairs: 500 },
    perKey: false,
  },
];

for (const target of TARGETS) differential(target);

function differential(target: Target): void {
  describe(`the offline evaluator agrees with ${target.name} SEARCH and the client checks`, () => {
    let server: TestImapServer;
    let session: ImapSession;
    let other: OtherClient;
    let mailboxes = 0;
    const now = new Date();

    before(async () => {
      server = await target.start();
      const user = server.addUser();
      session = await ImapSession.connect(server.account(user));
      other = await otherClient(server, user);
    });
    after(async () => {
      await other?.close();
      await session?.close();
      await server?.stop();
    });

    /** One batch: the messages into a fresh mailbox, then each match decided both ways, for every message. */
    async function agree(
      messages: readonly RandomMessage[],
      matches: readonly MatchTree[],
      pairs: Pairs,
    ): Promise<void> {
      mailboxes += 1;
      const mailbox = `D${mailboxes}`;
      await other.create(mailbox);
      for (const message of messages) {
        await other.deliver(mailbox, message.raw, {
          internalDate: message.internalDate,
          flags: [...message.flags],
        });
      }
      await session.openMailbox(mailbox, true);
      const uids = await session.searchUids({ all: true });
      assert.equal(uids.length, messages.length, 'every message was appended');
      const files = messages.map((message) =>
        messageFacts(message.raw, { flags: message.flags, received: message.internalDate }),
      );
      for (const match of matches) {
        MatchSchema.parse(match); // a match a rule file could hold
        const onServer = await serverMatches(session, match, now).catch((error: Error) => {
          throw new Error(`match ${JSON.stringify(match)}: ${error.message}`);
        });
        for (const [index, file] of files.entries()) {
          const offline = explainMatch(match, file, { now });
          const uid = uids[index] as number;
          pairs.count += 1;
          if (offline.matched !== onServer.has(uid)) {
            pairs.disagreement ??=
              `match ${JSON.stringify(match)}: offline ${offline.matched}, ${target.name} ${onServer.has(uid)} for\n` +
              `${messages[index]?.raw.toString('latin1')}\nflags ${messages[index]?.flags.join(' ')}, ` +
              `received ${messages[index]?.internalDate.toISOString()}\nexplained ${JSON.stringify(offline)}`;
            throw new Error("the offline verdict differs from the server's");
          }
        }
      }
    }

    function check(
      t: TestContext,
      keys: readonly string[] | undefined,
      limits: typeof PER_KEY,
    ): Promise<number> {
      const seed = Number(process.env.MAILSIFT_FC_SEED ?? Date.now() % 2 ** 31);
      t.diagnostic(`fast-check seed ${seed} (replay: MAILSIFT_FC_SEED=${seed})`);
      const pairs: Pairs = { count: 0 };
      const property = fc.asyncProperty(
        fc.array(messageArb(now), { minLength: MESSAGES, maxLength: MESSAGES }),
        fc.array(matchArb(keys), { minLength: MATCHES, maxLength: MATCHES }),
        (messages, matches) =>
          agree(messages, matches, pairs).catch((error: Error) => {
            pairs.disagreement ??= error.stack ?? String(error);
            throw error;
          }),
      );
      // No shrinking: each try costs a mailbox on the server, and the first disagreement is reported whole.
      return fc.assert(property, { ...limits, seed, endOnFailure: true }).then(
        () => pairs.count,
        (error: Error) => {
          throw new Error(`seed ${seed}: ${pairs.disagreement ?? error.message}`);
        },
      );
    }

    it(`on random matches of ${target.keys ? target.keys.join(', ') : 'every key'}, at least ${target.mixed.minPairs} message and match pairs`, async (t) => {
      const pairs = await check(t, target.keys, target.mixed);
      t.diagnostic(`${pairs} pairs agreed`);
      assert.ok(pairs >= target.mixed.minPairs, `only ${pairs} pairs were checked in the time allowed`);
    });

    for (const { key } of MATCH_KEYS.filter(
      (definition) => target.perKey && definition.key !== 'gmailSearch',
    )) {
      it(`on matches of ${key} alone and with any and not`, async (t) => {
        const pairs = await check(t, [key], PER_KEY);
        assert.ok(pairs >= MESSAGES * MATCHES, `${key}: ${pairs} pairs`);
      });
    }
  });
}

it('has a generator for every match key but gmailSearch, which cannot be decided offline', () => {
  const keys = MATCH_KEYS.map((definition) => definition.key).filter((key) => key !== 'gmailSearch');
  assert.deepEqual(Object.keys(LEAF_ARBITRARIES).sort(), [...keys].sort());
});
