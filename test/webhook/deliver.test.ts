import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deliverWebhook, idempotencyKey, retryAfterMs } from '../../functions/webhook/deliver.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

let receiver: Receiver;
before(async () => {
  receiver = await startReceiver();
});
after(async () => {
  await receiver?.close();
});

const request = (overrides: Partial<Parameters<typeof deliverWebhook>[0]> = {}) => ({
  url: receiver.url,
  body: '{"hello":"world"}',
  idempotencyKey: 'key-1',
  attempts: 4,
  timeoutMs: 2000,
  ...overrides,
});

describe('deliverWebhook', () => {
  it('posts JSON with an Idempotency-Key and reports the attempt that succeeded', async () => {
    receiver.requests.length = 0;
    receiver.respondWith(204);
    const result = await deliverWebhook(request());
    assert.deepEqual(result, { ok: true, status: 204, attempts: 1 });
    assert.equal(receiver.requests[0]?.headers['idempotency-key'], 'key-1');
    assert.equal(receiver.requests[0]?.headers['content-type'], 'application/json');
    assert.equal(receiver.requests[0]?.body, '{"hello":"world"}');
  });

  it('retries 5xx and delivers on the third attempt', async () => {
    receiver.requests.length = 0;
    receiver.respondWith(500, 503, 200);
    const result = await deliverWebhook(request());
    assert.deepEqual(result, { ok: true, status: 200, attempts: 3 });
    assert.equal(receiver.requests.length, 3);
    assert.deepEqual(new Set(receiver.requests.map((r) => r.headers['idempotency-key'])), new Set(['key-1']));
  });

  it('does not retry a 400, and names only the host', async () => {
    receiver.requests.length = 0;
    receiver.respondWith(400);
    const result = await deliverWebhook(request());
    assert.equal(result.ok, false);
    assert.equal(result.attempts, 1);
    assert.equal(receiver.requests.length, 1);
    assert.ok(!result.ok && result.reason === `${new URL(receiver.url).host} answered 400`);
    assert.ok(!JSON.stringify(result).includes('secret-path-token'));
  });

  it('waits as long as a 429 Retry-After asks', async () => {
    receiver.requests.length = 0;
    receiver.respondWith({ status: 429, headers: { 'retry-after': '1' } }, 200);
    const started = Date.now();
    const result = await deliverWebhook(request());
    assert.equal(result.ok, true);
    assert.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms`);
  });

  it('gives up on a receiver that is down after the configured attempts', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const result = await deliverWebhook(request({ url: `http://127.0.0.1:${port}/x`, attempts: 2 }));
    assert.deepEqual(result, {
      ok: false,
      reason: `127.0.0.1:${port} could not be reached (ECONNREFUSED) after 2 attempts`,
      attempts: 2,
    });
  });

  it('gives up on a receiver that never answers, within the timeout', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const started = Date.now();
      const result = await deliverWebhook(
        request({ url: `http://127.0.0.1:${port}/x`, attempts: 1, timeoutMs: 300 }),
      );
      assert.equal(result.ok, false);
      assert.match(!result.ok ? result.reason : '', /could not be reached \(TimeoutError\)/);
      assert.ok(Date.now() - started < 2000);
    } finally {
      silent.close();
    }
  });

  it('signs the body so that the verification code in docs/webhooks.md accepts it', async () => {
    receiver.requests.length = 0;
    receiver.respondWith(200);
    await deliverWebhook(request({ secret: 'shh' }));
    const received = receiver.requests[0];
    assert.ok(received);
    const verify = await docsVerify();
    const header = String(received.headers['x-mailsift-signature']);
    assert.equal(verify('shh', header, received.body), true);
    assert.equal(verify('wrong', header, received.body), false);
    assert.equal(verify('shh', header, `${received.body} `), false);
  });
});

/** The `verify` function from docs/webhooks.md's "Verifying the signature", run as a user would copy it. */
async function docsVerify(): Promise<(secret: string, header: string, body: string) => boolean> {
  const page = readFileSync('docs/webhooks.md', 'utf8');
  const section = page.slice(page.indexOf('**Verifying the signature.**'));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code, 'docs/webhooks.md has no js block after "Verifying the signature"');
  const file = join(mkdtempSync(join(tmpdir(), 'mailsift-readme-')), 'verify.mjs');
  writeFileSync(file, `${code}\nexport { verify };\n`);
  return ((await import(file)) as { verify: (secret: string, header: string, body: string) => boolean })
    .verify;
}

describe('idempotencyKey', () => {
  it('is stable for the same message and rule, and differs for another UID or rule', () => {
    const parts = { account: 'ops', mailbox: 'INBOX', uidValidity: 42n, uid: 7, rule: 'alerts' };
    assert.equal(idempotencyKey(parts), idempotencyKey({ ...parts }));
    assert.match(idempotencyKey(parts), /^[0-9a-f]{64}$/);
    assert.notEqual(idempotencyKey(parts), idempotencyKey({ ...parts, uid: 8 }));
    assert.notEqual(idempotencyKey(parts), idempotencyKey({ ...parts, rule: 'other' }));
  });
});

describe('retryAfterMs', () => {
  it('reads seconds and HTTP dates, and caps long waits', () => {
    const now = Date.parse('2026-11-22T12:00:00Z');
    assert.equal(retryAfterMs('2', now), 2000);
    assert.equal(retryAfterMs('Sun, 22 Nov 2026 12:00:05 GMT', now), 5000);
    assert.equal(retryAfterMs('86400', now), 30_000);
    assert.equal(retryAfterMs(null, now), undefined);
    assert.equal(retryAfterMs('soon', now), undefined);
  });
});
