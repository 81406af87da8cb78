import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { RuleFileError } from '../../functions/errors.ts';
import { parseRuleset } from '../../functions/rules/load.ts';
import { toSlackMessage } from '../../functions/webhook/payload.ts';
import { webhookPayloadJsonSchema } from '../../functions/webhook/payload-schema.ts';

describe('webhookPayloadJsonSchema', () => {
  it('is committed in schema/webhook-payload.schema.json exactly as generated', () => {
    assert.deepEqual(
      JSON.parse(readFileSync('schema/webhook-payload.schema.json', 'utf8')),
      webhookPayloadJsonSchema(),
    );
  });
});

describe('toSlackMessage', () => {
  it('escapes Slack control characters and keeps the first five non-empty lines', () => {
    const message = toSlackMessage({
      version: 1,
      account: 'a',
      ruleset: 'r',
      rule: 'x',
      mailbox: 'INBOX',
      uidValidity: '1',
      uid: 1,
      messageId: null,
      date: null,
      receivedAt: null,
      from: [{ name: '', address: 'a@b' }],
      to: [],
      cc: [],
      subject: '',
      text: '1\n2\n\n3\n4\n5\n6 <@channel>',
    });
    assert.equal(message.text, '*(no subject)*\nFrom: a@b\n> 1\n> 2\n> 3\n> 4\n> 5');
  });
});

describe('webhook action in rule files', () => {
  const problems = (webhook: string): string[] => {
    try {
      parseRuleset(
        'r.yaml',
        `account: a\nschedule: rate(5 minutes)\nrules:\n  - name: x\n    match: { seen: false }\n    actions: [{ webhook: ${webhook} }]\n`,
      );
      return [];
    } catch (error) {
      assert.ok(error instanceof RuleFileError);
      return error.problems.map((p) => `${p.path}: ${p.message}`);
    }
  };

  it('accepts https URLs, http on localhost, and parameter or env references', () => {
    assert.deepEqual(problems('{ url: "https://hooks.example.com/x" }'), []);
    assert.deepEqual(problems('{ url: "http://127.0.0.1:8080/x" }'), []);
    assert.deepEqual(
      problems('{ url: { parameter: /mailsift/webhooks/ops }, secret: { env: HOOK_SECRET } }'),
      [],
    );
  });

  it('refuses plain http elsewhere, credentials in URLs and literal secrets', () => {
    assert.deepEqual(problems('{ url: "http://hooks.example.com/x" }'), [
      'rules[0].actions[0].webhook.url: expected an https:// URL (http:// only for localhost) without credentials',
    ]);
    assert.deepEqual(problems('{ url: "https://user:pw@example.com/" }'), [
      'rules[0].actions[0].webhook.url: expected an https:// URL (http:// only for localhost) without credentials',
    ]);
    assert.deepEqual(problems('{ url: "https://example.com/", secret: "hunter2" }'), [
      'rules[0].actions[0].webhook.secret: expected { parameter: /name } or { env: NAME }',
    ]);
  });
});
