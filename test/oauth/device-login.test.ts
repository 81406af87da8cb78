/**
 * `mailsift auth login`: the device code flow (RFC 8628) against the strict token server, through the bundled
 * CLI as a user runs it; then `mailsift run` signs in with the refresh token the login kept. And the polling
 * itself: `authorization_pending` waits at the server's interval, `slow_down` adds 5 s.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { oauth2Settings } from '../../functions/oauth/settings.ts';
import { finishDeviceLogin, startDeviceLogin } from '../../functions/oauth/token-endpoint.ts';
import { runCli } from '../helpers/cli.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { makeMail } from '../helpers/mail.ts';
import { idsIn } from '../helpers/rulesets.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';

let tokens: TokenServer;
let dovecot: TestDovecot;

before(async () => {
  execFileSync('node', ['scripts/build.mjs']);
  tokens = await startTokenServer();
  dovecot = await startDovecot({ oauth2: { introspectionUrl: tokens.introspectUrl, only: true } });
  tokens.registerClient('device-app', {});
});
after(async () => {
  await dovecot?.stop();
  await tokens?.close();
});

/** The bundled CLI; `onLine` sees its stdout line by line while it runs. */
const mailsift = (args: string[], onLine?: (line: string) => void) => runCli(args, { onLine });

describe('mailsift auth login (device code)', () => {
  it('prints where to sign in, waits for the approval, keeps the refresh token; run then signs in with it', async () => {
    const user = dovecot.addUser();
    dovecot.seed(user, 'INBOX', [{ raw: makeMail({ messageId: 'inv', from: 'billing@acme.test' }) }]);
    const work = mkdtempSync(join(dovecot.dir, 'device-'));
    writeFileSync(join(work, 'ca.pem'), dovecot.certificate);
    writeFileSync(
      join(work, 'accounts.yaml'),
      `billing:
  host: 127.0.0.1
  port: ${dovecot.imapsPort}
  user: ${user}
  ca: ca.pem
  oauth2:
    clientId: device-app
    tokenUrl: ${tokens.tokenUrl}
    deviceAuthorizationUrl: ${tokens.deviceUrl}
    scope: imap offline_access
`,
    );
    mkdirSync(join(work, 'rules'));
    writeFileSync(
      join(work, 'rules/billing.yaml'),
      'account: billing\nschedule: rate(5 minutes)\nrules:\n  - { name: tag, match: { from: billing@ }, actions: [{ addFlags: [$Tagged] }] }\n',
    );
    const files = ['--accounts', join(work, 'accounts.yaml'), '--state', join(work, 'state')];

    const before = tokens.requests.get('urn:ietf:params:oauth:grant-type:device_code') ?? 0;
    let approved = false;
    const login = await mailsift(['auth', 'login', 'billing', ...files], (line) => {
      const code = /enter the code (\S+)/.exec(line)?.[1];
      // The user types the code a moment later: the CLI has polled and heard authorization_pending first.
      if (code && !approved) {
        approved = true;
        setTimeout(() => tokens.approve(code, user), 1500);
      }
    });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, new RegExp(`open ${tokens.url}/device and enter the code [0-9A-F]{8}`));
    assert.match(login.stdout, /Signed in\. Runs of billing use this sign-in from now on/);
    assert.ok(
      (tokens.requests.get('urn:ietf:params:oauth:grant-type:device_code') ?? 0) - before >= 2,
      'polled until approved',
    );

    // A dry run signs in too; the refresh token it spent was rotated, and the new one kept (the state is
    // otherwise read-only in a dry run): the real run after it still signs in.
    const dry = await mailsift(['run', join(work, 'rules'), '--json', '--dry-run', ...files]);
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    tokens.revokeAccessTokens();
    const run = await mailsift(['run', join(work, 'rules'), '--json', ...files]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'INBOX', '$Tagged'), ['inv']);

    // Two runs at once whose cached token the server now refuses: one asks the token server, the other waits
    // for its token (a rotating refresh token spent twice would lock one out with invalid_grant).
    tokens.revokeAccessTokens();
    const refreshes = tokens.requests.get('refresh_token') ?? 0;
    const both = await Promise.all(
      [1, 2].map(() => mailsift(['run', join(work, 'rules'), '--json', ...files])),
    );
    for (const each of both) assert.equal(each.code, 0, each.stdout + each.stderr);
    assert.equal((tokens.requests.get('refresh_token') ?? 0) - refreshes, 1);
    // No token of any kind in what the CLI printed.
    for (const body of tokens.bodies) {
      const refresh = new URLSearchParams(body).get('refresh_token');
      if (refresh) assert.ok(!login.stdout.includes(refresh) && !run.stdout.includes(refresh));
    }
  });

  it('--browser: a loopback redirect with PKCE; the code is exchanged once and the sign-in kept; a refusal says so', async () => {
    const user = dovecot.addUser();
    dovecot.seed(user, 'INBOX', [{ raw: makeMail({ messageId: 'inv', from: 'billing@acme.test' }) }]);
    const work = mkdtempSync(join(dovecot.dir, 'browser-'));
    writeFileSync(join(work, 'ca.pem'), dovecot.certificate);
    writeFileSync(
      join(work, 'accounts.yaml'),
      `gmail: { host: 127.0.0.1, port: ${dovecot.imapsPort}, user: ${user}, ca: ca.pem, oauth2: ` +
        `{ clientId: device-app, tokenUrl: '${tokens.tokenUrl}', authorizationUrl: '${tokens.authorizeUrl}', scope: imap } }\n`,
    );
    const files = ['--accounts', join(work, 'accounts.yaml'), '--state', join(work, 'state')];
    /** Plays the user's browser: opens the address the CLI printed, which comes back to the CLI. */
    const browse = (line: string) => {
      const address = /^ {2}(http\S+)$/.exec(line)?.[1];
      if (address) void fetch(address).then((answer) => answer.text());
    };

    tokens.signInAs(undefined);
    const refused = await mailsift(['auth', 'login', 'gmail', '--browser', ...files], browse);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /account "gmail": the sign-in did not complete \(access_denied\)/);

    tokens.signInAs(user);
    const login = await mailsift(['auth', 'login', 'gmail', '--browser', ...files], browse);
    assert.equal(login.code, 0, login.stderr);
    const printed = /^ {2}(http\S+)$/m.exec(login.stdout)?.[1] ?? '';
    const query = new URL(printed).searchParams;
    assert.equal(query.get('code_challenge_method'), 'S256');
    assert.match(query.get('redirect_uri') ?? '', /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.ok(!query.has('code_verifier'), 'the verifier never leaves the CLI but for the token request');

    mkdirSync(join(work, 'rules'));
    writeFileSync(
      join(work, 'rules/gmail.yaml'),
      'account: gmail\nschedule: rate(5 minutes)\nrules:\n  - { name: tag, match: { from: billing@ }, actions: [{ addFlags: [$Browser] }] }\n',
    );
    const run = await mailsift(['run', join(work, 'rules'), '--json', ...files]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'INBOX', '$Browser'), ['inv']);
  });

  it('polls at the interval the server asks for, 5 s slower after each slow_down', async () => {
    const settings = oauth2Settings('ops', {
      clientId: 'device-app',
      tokenUrl: tokens.tokenUrl,
      deviceAuthorizationUrl: tokens.deviceUrl,
      scope: 'imap offline_access',
    });
    const device = await startDeviceLogin(settings, settings.scope);
    tokens.slowDown(2);
    const waits: number[] = [];
    const result = await finishDeviceLogin(settings, device, async (ms) => {
      waits.push(ms);
      // Approved after the fourth wait: two slow_down, one authorization_pending, then the tokens.
      if (waits.length === 4) tokens.approve(device.userCode, 'someone');
    });
    assert.deepEqual(waits, [1000, 6000, 11000, 11000]);
    assert.ok(result.refreshToken);
  });
});
