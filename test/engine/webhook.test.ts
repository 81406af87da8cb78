import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { type LeaseMode, runRuleset } from '../../functions/engine/run.ts';
import type { ImapAccount } from '../../functions/imap/session.ts';
import { localSecretResolver } from '../../functions/secrets/local.ts';
import type { SecretResolver } from '../../functions/secrets/resolve.ts';
import type { StateStore } from '../../functions/state/store.ts';
import { WebhookPayloadSchema } from '../../functions/webhook/payload-schema.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { makeMail } from '../helpers/mail.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';
import { idsIn, rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';

/** Where these runs keep their state: one real file store for the whole file. */
const stateStore = testState();

let dovecot: TestDovecot;
let receiver: Receiver;

before(async () => {
  dovecot = await startDovecot();
  receiver = await startReceiver();
});
after(async () => {
  await receiver?.close();
  await dovecot?.stop();
});
beforeEach(() => {
  receiver.requests.length = 0;
  receiver.respondWith();
});

const KEYWORD = '$mailsift-fwd-forward-alerts';

/** The rule of rules/forward-alerts.yaml, with the receiver's URL as a parameter. */
function forwardAlerts(extra = ''): ReturnType<typeof rulesetOf> {
  return rulesetOf(
    `rules:
  - name: forward-alerts
    match: { from: monitoring@, seen: false }
    actions:
      - webhook: { url: { parameter: /mailsift/webhooks/ops }, secret: { env: OPS_SECRET }${extra} }
      - addFlags: ['\\Seen']
`,
    'alerts',
  );
}

/** The receiver's URL as the parameter /mailsift/webhooks/ops, the signing secret from an env map. */
function resolver(url = receiver.url): SecretResolver {
  const env = localSecretResolver({ OPS_SECRET: 'hmac-key' });
  return {
    resolve: async (reference) =>
      'parameter' in reference && reference.parameter === '/mailsift/webhooks/ops'
        ? url
        : await env.resolve(reference),
  };
}

function seedAlerts(count: number): string {
  const user = dovecot.addUser();
  dovecot.seed(user, 'INBOX', [
    ...Array.from({ length: count }, (_, i) => ({
      raw: makeMail({
        messageId: `alert${i}`,
        from: 'monitoring@ops.test',
        subject: `[ALERT] check ${i} failed`,
      }),
    })),
    { raw: makeMail({ messageId: 'seen-alert', from: 'monitoring@ops.test' }), flags: 'S' },
    { raw: makeMail({ messageId: 'other', from: 'friend@x.test' }) },
  ]);
  return user;
}

const run = (
  user: string,
  options: {
    dryRun?: boolean;
    url?: string;
    account?: ImapAccount;
    lease?: LeaseMode;
    state?: StateStore;
  } = {},
) =>
  runRuleset(forwardAlerts(), options.account ?? dovecot.account(user), {
    state: options.state ?? stateStore,
    dryRun: options.dryRun ?? false,
    lease: options.lease,
    secrets: resolver(options.url),
  });

describe('webhook action (real Dovecot, real HTTP receiver)', () => {
  it('posts each alert exactly once over two runs, marks it, and applies later actions', async () => {
    const user = seedAlerts(3);
    const first = await run(user);
    assert.equal(first.rules[0]?.error, undefined);
    assert.deepEqual(first.rules[0]?.actions, [
      { type: 'webhook', target: new URL(receiver.url).host, count: 3 },
      { type: 'addFlags', target: '\\Seen', count: 3 },
    ]);
    const second = await run(user);
    assert.deepEqual([second.rules[0]?.matched, second.rules[0]?.error], [0, undefined]);

    assert.deepEqual(
      receiver
        .payloads()
        .map((p) => p.messageId)
        .sort(),
      ['<alert0@test>', '<alert1@test>', '<alert2@test>'],
    );
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(state, 'INBOX', KEYWORD), ['alert0', 'alert1', 'alert2']);
    assert.deepEqual(idsIn(state, 'INBOX', '\\Seen'), ['alert0', 'alert1', 'alert2', 'seen-alert']);
  });

  it('keeps the Idempotency-Key stable across runs, and signs every request', async () => {
    const user = seedAlerts(1);
    await run(user);
    // Take the delivery mark and \Seen away, as if the first run's STORE had been lost, and the state with it.
    await dovecot.doveadm(
      'flags',
      'remove',
      '-u',
      user,
      `${KEYWORD} \\Seen`,
      'mailbox',
      'INBOX',
      'keyword',
      KEYWORD,
    );
    await run(user, { state: testState() });
    assert.equal(receiver.requests.length, 2);
    const [a, b] = receiver.requests;
    assert.match(String(a?.headers['idempotency-key']), /^[0-9a-f]{64}$/);
    assert.equal(a?.headers['idempotency-key'], b?.headers['idempotency-key']);
    assert.match(String(a?.headers['x-mailsift-signature']), /^t=\d+,v1=[0-9a-f]{64}$/);
  });

  it('two webhooks: a message the first delivered still reaches the second when the second failed at first', async () => {
    const second = await startReceiver();
    try {
      const user = seedAlerts(2);
      const ruleset = rulesetOf(`rules:
  - name: both
    match: { from: monitoring@, seen: false }
    actions:
      - webhook: { url: '${receiver.url}', attempts: 1, keyword: $to-first }
      - webhook: { url: '${second.url}', attempts: 1, keyword: $to-second }
`);
      second.respondWith(500, 500);
      const failed = await runRuleset(ruleset, dovecot.account(user), { state: stateStore, dryRun: false });
      assert.equal(failed.rules[0]?.errorType, 'DeliveryError');
      const retried = await runRuleset(ruleset, dovecot.account(user), { state: stateStore, dryRun: false });
      assert.equal(retried.rules[0]?.error, undefined, retried.rules[0]?.error);
      assert.equal(receiver.requests.length, 2, 'the first receiver got each alert once');
      // Two refused posts, then the two that went through.
      assert.deepEqual(
        second
          .payloads()
          .map((payload) => payload.messageId)
          .slice(2)
          .sort(),
        ['<alert0@test>', '<alert1@test>'],
      );
      const state = await dovecot.mailboxState(user);
      assert.deepEqual(idsIn(state, 'INBOX', '$to-second'), ['alert0', 'alert1']);
    } finally {
      await second.close();
    }
  });

  it('retries 500, 500 and marks the message after the 200', async () => {
    const user = seedAlerts(1);
    receiver.respondWith(500, 500, 200);
    const summary = await run(user);
    assert.equal(summary.rules[0]?.error, undefined);
    assert.equal(receiver.requests.length, 3);
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'INBOX', KEYWORD), ['alert0']);
  });

  it('does not retry a 400: the message stays unmarked, the others still go out, the next run retries it', async () => {
    const user = seedAlerts(3);
    receiver.respondWith(400);
    const first = await run(user);
    assert.equal(first.rules[0]?.errorType, 'DeliveryError');
    assert.match(first.rules[0]?.error ?? '', /^1 of 3 messages failed: 127\.0\.0\.1:\d+ answered 400$/);
    assert.equal(first.rules[0]?.failed?.length, 1);
    assert.equal(receiver.requests.length, 3);
    const afterFirst = await dovecot.mailboxState(user);
    assert.equal(idsIn(afterFirst, 'INBOX', KEYWORD).length, 2);
    // \Seen (the next action) went only to the delivered two.
    assert.deepEqual(idsIn(afterFirst, 'INBOX', '\\Seen').length, 3);

    const second = await run(user);
    assert.equal(second.rules[0]?.error, undefined);
    assert.equal(second.rules[0]?.matched, 1);
    assert.equal(idsIn(await dovecot.mailboxState(user), 'INBOX', KEYWORD).length, 3);
    assert.equal(new Set(receiver.payloads().map((p) => p.messageId)).size, 3);
  });

  it('fails the rule cleanly when the receiver is down, and the next run delivers', async () => {
    const user = seedAlerts(2);
    const closed = await startReceiver();
    await closed.close();
    const down = closed.url;
    const first = await runRuleset(
      rulesetOf(
        `rules:
  - name: forward-alerts
    match: { from: monitoring@, seen: false }
    actions: [{ webhook: { url: { parameter: /mailsift/webhooks/ops }, attempts: 2 } }]
`,
      ),
      dovecot.account(user),
      { state: stateStore, dryRun: false, secrets: resolver(down) },
    );
    assert.equal(first.rules[0]?.errorType, 'DeliveryError');
    assert.match(first.rules[0]?.error ?? '', /could not be reached \(ECONNREFUSED\) after 2 attempts/);
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'INBOX', KEYWORD), []);

    const second = await run(user);
    assert.equal(second.rules[0]?.error, undefined);
    assert.equal(receiver.requests.length, 2);
  });

  it('with dedupe: false, marks nothing and posts again on the next run', async () => {
    const user = seedAlerts(1);
    const ruleset = rulesetOf(`rules:
  - name: forward-alerts
    match: { from: monitoring@, seen: false }
    actions: [{ webhook: { url: { parameter: /mailsift/webhooks/ops }, dedupe: false } }]
`);
    for (let i = 0; i < 2; i++) {
      const summary = await runRuleset(ruleset, dovecot.account(user), {
        state: stateStore,
        dryRun: false,
        secrets: resolver(),
      });
      assert.equal(summary.rules[0]?.error, undefined);
    }
    assert.equal(receiver.requests.length, 2);
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'INBOX', KEYWORD), []);
  });

  it('with dedupe: false, also posts messages that still carry the keyword of earlier, deduplicated runs', async () => {
    const user = seedAlerts(1);
    await dovecot.doveadm('flags', 'add', '-u', user, KEYWORD, 'mailbox', 'INBOX', 'from', 'monitoring@');
    const summary = await runRuleset(
      rulesetOf(`rules:
  - name: forward-alerts
    match: { from: monitoring@, seen: false }
    actions: [{ webhook: { url: { parameter: /mailsift/webhooks/ops }, dedupe: false } }]
`),
      dovecot.account(user),
      { state: stateStore, dryRun: false, secrets: resolver() },
    );
    assert.equal(summary.rules[0]?.error, undefined);
    assert.equal(receiver.requests.length, 1);
  });

  it('a dry run after a real run predicts what the next real run does: nothing more to post', async () => {
    const user = seedAlerts(2);
    const ruleset = rulesetOf(`rules:
  - name: fwd
    match: { from: monitoring@ }
    actions: [{ webhook: { url: '${receiver.url}', attempts: 1 } }, { addFlags: ['\\Flagged'] }]
`);
    const account = dovecot.account(user);
    const first = await runRuleset(ruleset, account, { state: stateStore, dryRun: false });
    assert.equal(first.rules[0]?.acted, 3);
    // EXAMINE shows no PERMANENTFLAGS: the dry run leaves out what was finished on the client.
    const dry = await runRuleset(ruleset, account, { state: stateStore, dryRun: true });
    const real = await runRuleset(ruleset, account, { state: stateStore, dryRun: false });
    assert.deepEqual([dry.rules[0]?.matched, real.rules[0]?.matched], [0, 0]);
    assert.equal(receiver.requests.length, 3);
  });

  it('posts nothing in a dry run', async () => {
    const user = seedAlerts(2);
    const before = await dovecot.mailboxState(user);
    const summary = await run(user, { dryRun: true });
    assert.equal(summary.rules[0]?.actions[0]?.count, 2);
    assert.equal(receiver.requests.length, 0);
    assert.deepEqual(await dovecot.mailboxState(user), before);
  });
});

describe('webhook payloads (real Dovecot)', () => {
  const FULL_RULE = rulesetOf(`rules:
  - name: everything
    match: { from: sender@ }
    actions:
      - webhook: { url: { parameter: /mailsift/webhooks/ops }, headers: [X-Alert-Id], maxTextLength: 200 }
`);

  it('decodes subjects, turns HTML into text, lists attachments and cuts long text', async () => {
    const user = dovecot.addUser();
    const boundary = 'alt-1';
    dovecot.seed(user, 'INBOX', [
      {
        raw: makeMail({
          messageId: 'encoded',
          from: 'Jörg <sender@x.test>',
          subject: '=?UTF-8?B?R3LDvMOfZSDimIM=?=',
          headers: { 'X-Alert-Id': 'A-17' },
        }),
      },
      {
        raw:
          'From: sender@x.test\r\nSubject: html only\r\nMessage-ID: <html@test>\r\nMIME-Version: 1.0\r\n' +
          'Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n' +
          '<html><body><h1>Disk</h1><p>Gr=FC=DFe from <b>db1</b></p></body></html>\r\n',
      },
      {
        raw:
          `From: sender@x.test\r\nSubject: alternative\r\nMessage-ID: <alt@test>\r\nMIME-Version: 1.0\r\n` +
          `Content-Type: multipart/alternative; boundary="${boundary}"\r\n\r\n--${boundary}\r\nContent-Type: text/plain\r\n\r\n` +
          `plain version\r\n--${boundary}\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n--${boundary}--\r\n`,
      },
      { raw: makeMail({ messageId: 'long', from: 'sender@x.test', text: 'word '.repeat(200) }) },
      {
        raw: makeMail({
          messageId: 'pdf',
          from: 'sender@x.test',
          text: 'see attached',
          attachments: [
            { filename: 'report.pdf', contentType: 'application/pdf', content: 'x'.repeat(3000) },
          ],
        }),
      },
    ]);
    const summary = await runRuleset(FULL_RULE, dovecot.account(user), {
      state: stateStore,
      dryRun: false,
      secrets: resolver(),
    });
    assert.equal(summary.rules[0]?.error, undefined);
    const byId = new Map(receiver.payloads().map((p) => [p.messageId, p]));
    for (const payload of byId.values()) WebhookPayloadSchema.parse(payload);

    const encoded = byId.get('<encoded@test>');
    assert.equal(encoded?.subject, 'Grüße ☃');
    assert.deepEqual(encoded?.from, [{ name: 'Jörg', address: 'sender@x.test' }]);
    assert.deepEqual(encoded?.headers, { 'x-alert-id': ['A-17'] });
    assert.equal(encoded?.ruleset, 'test');
    assert.equal(encoded?.rule, 'everything');
    assert.match(String(encoded?.uidValidity), /^\d+$/);

    assert.equal(byId.get('<html@test>')?.text, 'DISK\n\nGrüße from db1');
    assert.equal(byId.get('<alt@test>')?.text, 'plain version');
    const long = byId.get('<long@test>');
    assert.equal(long?.truncated, true);
    assert.equal(String(long?.text).length, 200);
    assert.deepEqual(byId.get('<pdf@test>')?.attachments, [
      { filename: 'report.pdf', contentType: 'application/pdf', size: 4000 },
    ]);
  });

  it('handles a 30 MB attachment and broken MIME without downloading the message', async () => {
    const user = dovecot.addUser();
    const big = Buffer.alloc(30 * 1024 * 1024, 7).toString('base64');
    dovecot.seed(user, 'INBOX', [
      {
        raw:
          'From: sender@x.test\r\nSubject: big one\r\nMessage-ID: <big@test>\r\nMIME-Version: 1.0\r\n' +
          'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nthe big file\r\n' +
          '--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="dump.bin"\r\n' +
          `Content-Transfer-Encoding: base64\r\n\r\n${big.replace(/(.{76})/g, '$1\r\n')}\r\n--b--\r\n`,
      },
      {
        raw:
          'From: sender@x.test\r\nSubject: =?UTF-8?B?####?= broken\r\nMessage-ID: <broken@test>\r\nMIME-Version: 1.0\r\n' +
          'Content-Type: multipart/mixed; boundary="never"\r\n\r\n--never\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\n' +
          'text in an unknown charset\r\n',
      },
    ]);
    const summary = await runRuleset(FULL_RULE, dovecot.account(user), {
      state: stateStore,
      dryRun: false,
      secrets: resolver(),
    });
    assert.equal(summary.rules[0]?.error, undefined);
    const byId = new Map(receiver.payloads().map((p) => [p.messageId, p]));
    const bigPayload = WebhookPayloadSchema.parse(byId.get('<big@test>'));
    assert.equal(bigPayload.text, 'the big file');
    assert.equal(bigPayload.attachments?.[0]?.filename, 'dump.bin');
    assert.ok((bigPayload.attachments?.[0]?.size ?? 0) > 40_000_000);
    const broken = WebhookPayloadSchema.parse(byId.get('<broken@test>'));
    assert.match(broken.subject, /broken$/);
    assert.equal(broken.text, 'text in an unknown charset');
  });

  it('sends a Slack message with sender, subject and the first lines', async () => {
    const user = dovecot.addUser();
    dovecot.seed(user, 'INBOX', [
      {
        raw: makeMail({
          from: 'Ops <sender@x.test>',
          subject: 'db1 <down>',
          text: 'line one\r\n\r\nline two & more',
        }),
      },
    ]);
    await runRuleset(
      rulesetOf(
        'rules:\n  - { name: s, match: { from: sender@ }, actions: [{ webhook: { url: { parameter: /mailsift/webhooks/ops }, format: slack } }] }\n',
      ),
      dovecot.account(user),
      { state: stateStore, dryRun: false, secrets: resolver() },
    );
    assert.deepEqual(receiver.payloads(), [
      { text: '*db1 &lt;down&gt;*\nFrom: Ops &lt;sender@x.test&gt;\n> line one\n> line two &amp; more' },
    ]);
  });
});
