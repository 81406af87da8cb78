/**
 * The shipped rules/, unchanged, run by the CLI as a user runs them, on every real server: invoices filed into
 * Finance/Invoices, old newsletters to Trash, alerts flagged, posted once and resolved ones filed, read
 * newsletters archived, old Trash emptied. A dry run first changes nothing and predicts the run; a second run
 * does nothing again.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.ts';
import type { SeedMessage } from '../helpers/dovecot.ts';
import { imapState, type TestImapServer } from '../helpers/imap-server.ts';
import { makeMail } from '../helpers/mail.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';
import { idsIn } from '../helpers/rulesets.ts';
import { REAL_SERVERS } from '../helpers/servers.ts';

const DAY = 24 * 60 * 60 * 1000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY);
const pdf = [{ filename: 'invoice.pdf', contentType: 'application/pdf', content: '%PDF-1.4 fake' }];
const mail = (
  id: string,
  fields: Parameters<typeof makeMail>[0],
  flags = '',
  age = 1,
): SeedMessage & { id: string } => ({
  id,
  raw: makeMail({ messageId: id, ...fields }),
  flags,
  internalDate: daysAgo(age),
});
const unsubscribe = { 'List-Unsubscribe': '<mailto:unsub@letters.test>' };
const listId = { 'List-Id': '<weekly.letters.test>' };

/** What each account's mailboxes hold before the run. */
const SEED: Record<string, Record<string, (SeedMessage & { id: string })[]>> = {
  billing: {
    INBOX: [
      mail('inv-pdf', { from: 'billing@acme.test', subject: 'Invoice 2001', attachments: pdf }),
      mail('inv-text', { from: 'billing@acme.test', subject: 'Your invoice question' }),
      mail('news-old', { from: 'news@letters.test', headers: unsubscribe }, 'S', 40),
      mail('news-new', { from: 'news@letters.test', headers: unsubscribe }, '', 3),
      mail('friend', { from: 'anna@friends.test', subject: 'Invoice for the party?', attachments: pdf }),
    ],
  },
  ops: {
    INBOX: [
      mail('alert', { from: 'monitoring@ops.test', subject: '[ALERT] disk full' }),
      mail('critical', { from: 'monitoring@ops.test', subject: '[CRITICAL] db down' }),
      mail('resolved', { from: 'monitoring@ops.test', subject: '[RESOLVED] disk full' }),
      mail('report', { from: 'monitoring@ops.test', subject: 'Weekly report' }),
      mail('read-alert', { from: 'monitoring@ops.test', subject: '[ALERT] old' }, 'S'),
    ],
  },
  personal: {
    INBOX: [
      mail('list-read-old', { from: 'news@letters.test', headers: listId }, 'S', 20),
      mail('list-read-new', { from: 'news@letters.test', headers: listId }, 'S', 3),
      mail('list-unread-old', { from: 'news@letters.test', headers: listId }, '', 20),
    ],
    Trash: [
      mail('trash-old', { subject: 'gone' }, 'S', 120),
      mail('trash-recent', { subject: 'kept' }, 'S', 10),
    ],
  },
};

/** Where each message ends, per account: mailbox and the flags the rules give it. */
const EXPECTED: Record<string, Record<string, string[]>> = {
  billing: {
    INBOX: ['friend', 'inv-text', 'news-new'],
    'Finance/Invoices': ['inv-pdf'],
    Trash: ['news-old'],
  },
  ops: { INBOX: ['alert', 'critical', 'read-alert', 'report'], 'Alerts/Resolved': ['resolved'] },
  personal: {
    INBOX: ['list-read-new', 'list-unread-old'],
    'Newsletters/Archive': ['list-read-old'],
    Trash: ['trash-recent'],
  },
};

const WEBHOOK_SECRET = 'shipped-rules-webhook-secret';

/** The bundled CLI, without blocking this process: the webhook receiver in it must keep answering. */
async function mailsift(args: string[]) {
  const { code, stdout, stderr } = await runCli(args);
  const summaries = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { ruleset: string; account: string; rules: Rule[]; error?: string });
  return { code, summaries, stderr };
}

interface Rule {
  readonly name: string;
  readonly matched: number;
  readonly acted: number;
  readonly error?: string;
}

/** Every message of every account: `account mailbox id flags…`, sorted. */
async function everything(server: TestImapServer, users: Record<string, string>): Promise<string[]> {
  const lines: string[] = [];
  for (const [account, user] of Object.entries(users)) {
    for (const [mailbox, messages] of await imapState(server, user)) {
      for (const message of messages) {
        const flags = message.flags.filter((flag) => flag !== '\\Recent').join(' ');
        lines.push(
          `${account} ${mailbox} ${message.messageId.replace(/^<(.*)@test>$/, '$1')} ${flags}`.trim(),
        );
      }
    }
  }
  return lines.sort();
}

for (const real of REAL_SERVERS) {
  describe(`the shipped rules on ${real.name}`, () => {
    let server: TestImapServer;
    let receiver: Receiver;
    before(async () => {
      [server, receiver] = await Promise.all([real.start(), startReceiver()]);
    });
    after(async () => {
      await receiver?.close();
      await server?.stop();
    });

    it('file invoices, clean newsletters, flag and forward alerts: once, as the dry run said', async () => {
      const users: Record<string, string> = {};
      for (const [account, mailboxes] of Object.entries(SEED)) {
        users[account] = server.addUser();
        for (const [mailbox, messages] of Object.entries(mailboxes))
          await server.seed(users[account], mailbox, messages);
      }
      const work = mkdtempSync(join(server.dir, 'cli-'));
      writeFileSync(
        join(work, 'accounts.yaml'),
        Object.entries(users)
          .map(
            ([account, user]) =>
              `${account}: { host: 127.0.0.1, port: ${server.imapsPort}, tls: implicit, user: ${user}, ` +
              `password: secret, ca: ${server.certificateFile} }`,
          )
          .join('\n'),
      );
      writeFileSync(
        join(work, 'parameters.yaml'),
        `/mailsift/webhooks/ops: ${receiver.url}\n/mailsift/webhooks/ops-secret: ${WEBHOOK_SECRET}\n`,
      );
      const files = [
        'rules',
        '--json',
        '--accounts',
        join(work, 'accounts.yaml'),
        '--parameters',
        join(work, 'parameters.yaml'),
        '--state',
        join(work, 'state'),
      ];
      const seeded = await everything(server, users);

      const dry = await mailsift(['run', '--dry-run', ...files]);
      assert.equal(dry.code, 0, dry.stderr);
      assert.deepEqual(await everything(server, users), seeded, 'the dry run changed nothing');
      assert.equal(receiver.requests.length, 0, 'the dry run posted nothing');

      const real = await mailsift(['run', ...files]);
      assert.equal(real.code, 0, real.stderr);
      const counts = (run: Awaited<ReturnType<typeof mailsift>>) =>
        run.summaries.flatMap((summary) =>
          summary.rules.map((rule) =>
            `${summary.ruleset}/${rule.name} ${rule.matched} ${rule.error ?? ''}`.trim(),
          ),
        );
      assert.deepEqual(counts(real), counts(dry), 'the dry run predicted what the run matched');

      const state = new Map<
        string,
        Map<string, { messageId: string; flags: readonly string[]; uid: number }[]>
      >();
      for (const [account, user] of Object.entries(users)) state.set(account, await imapState(server, user));
      for (const [account, mailboxes] of Object.entries(EXPECTED)) {
        const found = state.get(account) ?? new Map();
        for (const [mailbox, ids] of Object.entries(mailboxes))
          assert.deepEqual(idsIn(found, mailbox), ids, `${account} ${mailbox}`);
        const emptyElsewhere = [...found.keys()].filter((mailbox) => !(mailbox in mailboxes));
        assert.deepEqual(emptyElsewhere, [], `${account}: nothing in other mailboxes`);
      }
      const billing = state.get('billing') ?? new Map();
      const ops = state.get('ops') ?? new Map();
      assert.deepEqual(idsIn(billing, 'Finance/Invoices', '$Invoice'), ['inv-pdf']);
      assert.deepEqual(idsIn(ops, 'INBOX', '$Alert'), ['alert', 'critical']);
      assert.deepEqual(idsIn(ops, 'INBOX', '\\Flagged'), ['alert', 'critical']);
      assert.deepEqual(idsIn(ops, 'INBOX', '\\Seen'), ['alert', 'critical', 'read-alert', 'report']);
      assert.deepEqual(idsIn(ops, 'Alerts/Resolved', '\\Seen'), ['resolved']);
      const posted = () =>
        receiver
          .payloads()
          .map((payload) => String(payload.subject))
          .sort();
      assert.deepEqual(posted(), ['Weekly report', '[ALERT] disk full', '[CRITICAL] db down']);

      const afterRun = await everything(server, users);
      const again = await mailsift(['run', ...files]);
      assert.equal(again.code, 0, again.stderr);
      const acted = again.summaries.flatMap((summary) =>
        summary.rules.filter((rule) => rule.acted > 0).map((rule) => rule.name),
      );
      assert.deepEqual(acted, [], 'a second run does nothing again');
      assert.deepEqual(await everything(server, users), afterRun);
      assert.equal(receiver.requests.length, 3, 'each alert posted once');
    });
  });
}
