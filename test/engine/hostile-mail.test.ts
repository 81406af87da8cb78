/**
 * Broken and hostile mail, generated here: invalid charsets, 2,000-character header lines, 20 and 50 levels of
 * nested multiparts, odd-case header names, broken base64. Every rule still runs, matches what it says or
 * reports what it could not read, and every webhook payload is valid JSON.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runRuleset } from '../../functions/engine/run.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { HOSTILE } from '../helpers/hostile-mail.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';
import { idsIn, rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';

/** Where these runs keep their state: one real file store for the whole file. */
const stateStore = testState();

let dovecot: TestDovecot;
let receiver: Receiver;
before(async () => {
  [dovecot, receiver] = await Promise.all([startDovecot(), startReceiver()]);
});
after(async () => {
  await receiver?.close();
  await dovecot?.stop();
});

describe('broken and hostile mail', () => {
  it('runs every rule, matches as the rules say, and posts valid JSON for each message', async () => {
    const user = dovecot.addUser();
    dovecot.seed(
      user,
      'INBOX',
      HOSTILE.map((raw) => ({ raw: Buffer.from(raw, 'latin1') })),
    );
    const summary = await runRuleset(
      rulesetOf(`rules:
  - { name: pdfs, match: { attachment: { type: application/pdf } }, actions: [{ addFlags: [$Pdf] }] }
  - { name: lists, match: { header: { List-Unsubscribe: '' } }, actions: [{ addFlags: [$List] }] }
  - { name: long, match: { subjectMatches: 'x{1990}' }, actions: [{ addFlags: [$Long] }] }
  - { name: xlong, match: { headerMatches: { X-Long: '^x+$' } }, actions: [{ addFlags: [$XLong] }] }
  - name: forward
    match: { from: corpus@ }
    actions:
      - webhook: { url: '${receiver.url}', include: [text, attachments], headers: [X-Long, List-Unsubscribe] }
`),
      dovecot.account(user),
      { state: stateStore, dryRun: false },
    );
    // UIDs follow HOSTILE's order; nested50 is UID 3.
    const [pdfs, lists, long, xlong, forward] = summary.rules;
    assert.deepEqual(
      [pdfs, lists, long, xlong].map((rule) => rule?.error),
      [undefined, undefined, undefined, undefined],
    );
    // imapflow refuses a BODYSTRUCTURE nested deeper than 25 levels (a guard against stack exhaustion) and
    // drops the response: the message is reported as skipped, never silently treated as "no attachment".
    assert.deepEqual(
      pdfs?.skipped?.map((skip) => skip.uid),
      [3],
    );
    assert.match(pdfs?.skipped?.[0]?.reason ?? '', /nested deeper than 25 levels/);
    // For a webhook that is a failed delivery: reported, the rule fails, and the next run tries again.
    assert.equal(forward?.errorType, 'DeliveryError');
    assert.deepEqual(
      forward?.failed?.map((failure) => failure.uid),
      [3],
    );
    const state = await dovecot.mailboxState(user);
    assert.deepEqual(idsIn(state, 'INBOX', '$Pdf'), ['nested20']);
    assert.deepEqual(idsIn(state, 'INBOX', '$List'), ['oddcase']);
    assert.deepEqual(idsIn(state, 'INBOX', '$Long'), ['longheader']);
    assert.deepEqual(idsIn(state, 'INBOX', '$XLong'), ['longheader']);

    // Every message posted once, each body valid JSON with the fields the schema promises.
    const bodies = receiver.requests.map((request) => JSON.parse(request.body) as Record<string, unknown>);
    assert.deepEqual(bodies.map((body) => body.messageId).sort(), [
      '<badbase64@test>',
      '<badcharset@test>',
      '<longheader@test>',
      '<nested20@test>',
      '<oddcase@test>',
    ]);
    for (const body of bodies) {
      assert.equal(typeof body.subject, 'string');
      assert.equal(typeof body.text, 'string');
      assert.ok(Array.isArray(body.attachments));
    }
    const byId = new Map(bodies.map((body) => [body.messageId, body]));
    assert.match(String(byId.get('<longheader@test>')?.subject), /^long x{2000}$/);
    assert.deepEqual(
      ((byId.get('<nested20@test>')?.attachments ?? []) as { filename: string }[]).map((a) => a.filename),
      ['deep.pdf'],
    );
    assert.equal(byId.get('<oddcase@test>')?.subject, 'Weekly LETTER');
  });
});
