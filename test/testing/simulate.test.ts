import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stepOf } from '../../functions/engine/actions/index.ts';
import { OfflineEvaluationError } from '../../functions/errors.ts';
import { messageFacts } from '../../functions/match/message-file.ts';
import { simulate } from '../../functions/testing/simulate.ts';
import { makeMail } from '../helpers/mail.ts';
import { rulesetOf } from '../helpers/rulesets.ts';

const now = new Date('2026-12-20T09:00:00Z');
const at = { mailbox: 'INBOX', now };
const invoice = (flags: string[] = []) =>
  messageFacts(Buffer.from(makeMail({ from: 'billing@acme.example', subject: 'invoice 7' })), { flags });

describe('simulate: a ruleset over one message, as a real run', () => {
  it('lets a later rule see the message only while no earlier rule moved it', () => {
    const ruleset = rulesetOf(`
rules:
  - { name: tag, match: { from: billing@ }, actions: [{ addFlags: [$Bill] }] }
  - { name: file, match: { keyword: $Bill }, actions: [{ moveTo: Finance }] }
  - { name: later, match: { from: billing@ }, actions: [{ addFlags: [$Late] }] }
`);
    const result = simulate(ruleset, invoice(), at);
    assert.deepEqual(result.acts, ['tag', 'file'], 'the keyword tag set is seen by file');
    assert.deepEqual(result.actions, ['addFlags $Bill', 'moveTo Finance']);
    assert.deepEqual(result.rules[2], { rule: 'later', outcome: 'gone', by: 'file' });
  });

  it('holds a message back after a stop rule matched it, even one that changed nothing', () => {
    const ruleset = rulesetOf(`
rules:
  - { name: first, match: { from: billing@ }, stop: true, actions: [{ addFlags: [$Bill] }] }
  - { name: second, match: { subject: invoice }, actions: [{ addFlags: [$Second] }] }
`);
    assert.deepEqual(simulate(ruleset, invoice(), at).acts, ['first']);
    const tagged = simulate(ruleset, invoice(['$Bill']), at);
    assert.deepEqual(tagged.acts, []);
    assert.equal(tagged.rules[0]?.outcome, 'no change');
    assert.deepEqual(tagged.rules[1], { rule: 'second', outcome: 'held back', by: 'first' });
  });

  it('skips rules on another mailbox, and a webhook skips what carries its delivery keyword', () => {
    const ruleset = rulesetOf(`
rules:
  - { name: elsewhere, mailbox: Archive, match: { from: billing@ }, actions: [{ addFlags: [$X] }] }
  - name: post
    match: { from: billing@ }
    actions: [{ webhook: { url: 'https://hooks.example/in', dedupe: true } }]
`);
    const first = simulate(ruleset, invoice(), at);
    assert.deepEqual(first.acts, ['post']);
    assert.equal(first.rules[0]?.outcome, 'other mailbox');
    assert.deepEqual(first.actions, ['webhook hooks.example'], 'the host only: a URL may hold a token');
    const post = ruleset.rules[1];
    assert.ok(post);
    const step = stepOf(post.actions[0] as object);
    const keyword = step.definition.deliveryMark(step.params, 'post');
    assert.ok(keyword);
    const posted = simulate(ruleset, invoice([keyword]), at);
    assert.deepEqual(posted.acts, []);
    assert.equal(posted.rules[1]?.outcome, 'posted before');
  });

  it('leaves a message a move onto its own mailbox leaves where it is', () => {
    const ruleset = rulesetOf(`
rules:
  - { name: stay, match: { from: billing@ }, actions: [{ moveTo: INBOX }] }
  - { name: next, match: { from: billing@ }, actions: [{ addFlags: [$Next] }] }
`);
    assert.deepEqual(simulate(ruleset, invoice(), at).acts, ['stay', 'next']);
  });

  it('cannot decide gmailSearch offline, and says so', () => {
    const ruleset = rulesetOf(`
rules:
  - { name: gmail, match: { gmailSearch: 'has:attachment' }, actions: [{ addFlags: [$X] }] }
`);
    assert.throws(() => simulate(ruleset, invoice(), at), OfflineEvaluationError);
  });
});
