/**
 * The README's Microsoft 365 walkthrough, done as a new user would with only a client id and secret, against an
 * Exchange-like server (the tests' Dovecot, XOAUTH2 only): the README's account, its dry run, its run. The token
 * URL is the one thing changed: the loopback token server stands in for login.microsoftonline.com.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { makeMail } from '../helpers/mail.ts';
import { idsIn } from '../helpers/rulesets.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';

let tokens: TokenServer;
let exchange: TestDovecot;

before(async () => {
  execFileSync('node', ['scripts/build.mjs']);
  tokens = await startTokenServer();
  exchange = await startDovecot({ oauth2: { introspectionUrl: tokens.introspectUrl, only: true } });
});
after(async () => {
  await exchange?.stop();
  await tokens?.close();
});

async function mailsift(args: string[], env: Record<string, string>) {
  const run = await runCli(args, { env });
  return { code: run.code, output: run.stdout + run.stderr };
}

describe("the README's Microsoft 365 walkthrough", () => {
  it('a client id and secret, a dry run, a run: invoices filed, one token request, the secret nowhere in the output', async () => {
    const user = exchange.addUser();
    exchange.seed(user, 'INBOX', [
      { raw: makeMail({ messageId: 'inv', from: 'billing@acme.test', subject: 'Invoice 7' }) },
      { raw: makeMail({ messageId: 'other', from: 'anna@example.com' }) },
    ]);
    const clientId = '3f2a0c1e-0000-4000-8000-000000000001';
    const secret = 'Qx8~client-secret-from-entra';
    tokens.registerClient(clientId, { secret, appMailboxes: [user] });
    const work = mkdtempSync(join(exchange.dir, 'readme-'));
    writeFileSync(join(work, 'ca.pem'), exchange.certificate);
    writeFileSync(
      join(work, 'accounts.yaml'),
      `billing:
  host: 127.0.0.1
  port: ${exchange.imapsPort}
  user: ${user}
  ca: ca.pem
  oauth2: { provider: microsoft, tenant: contoso.com, clientId: ${clientId}, clientSecret: { env: BILLING_CLIENT_SECRET }, tokenUrl: '${tokens.tokenUrl}' }
`,
    );
    mkdirSync(join(work, 'rules'));
    writeFileSync(
      join(work, 'rules/invoices.yaml'),
      'account: billing\nschedule: rate(15 minutes)\nrules:\n  - { name: file-invoices, match: { from: billing@, subject: invoice }, actions: [{ moveTo: Finance/Invoices }] }\n',
    );
    const args = [
      join(work, 'rules'),
      '--accounts',
      join(work, 'accounts.yaml'),
      '--state',
      join(work, 'state'),
    ];
    const env = { BILLING_CLIENT_SECRET: secret };
    const before = tokens.requests.get('client_credentials') ?? 0;
    const dry = await mailsift(['run', '--dry-run', ...args], env);
    assert.equal(dry.code, 0, dry.output);
    assert.match(dry.output, /file-invoices \[INBOX\]: matched 1, would act on 1/);
    const real = await mailsift(['run', ...args], env);
    assert.equal(real.code, 0, real.output);
    assert.deepEqual(idsIn(await exchange.mailboxState(user), 'Finance/Invoices'), ['inv']);
    assert.equal(
      (tokens.requests.get('client_credentials') ?? 0) - before,
      1,
      'the run reused the dry run’s token',
    );
    for (const output of [dry.output, real.output]) assert.ok(!output.includes(secret));
  });
});
