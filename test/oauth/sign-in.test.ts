/**
 * OAuth2 sign-in against the real Dovecot, which checks every token at a strict loopback token server
 * (test/helpers/token-server.ts): refresh tokens that rotate and are spent on use, client credentials for an
 * Exchange-like server that offers XOAUTH2 alone, a Google service account's signed JWT; token caching, one
 * refresh and one retry on a refused token, retries on 5xx only, and no secret in any output.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runRulesets } from '../../functions/engine/run.ts';
import { type OAuth2Entry, oauth2Settings } from '../../functions/oauth/settings.ts';
import { forgetAccessTokens, REFRESH_TOKEN_RECORD, withTokens } from '../../functions/oauth/tokens.ts';
import { accountScope, type StateStore, stateKey } from '../../functions/state/store.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { startFaultProxyFor } from '../helpers/fault-proxy.ts';
import { makeMail } from '../helpers/mail.ts';
import { idsIn, rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';

let tokens: TokenServer;
let dovecot: TestDovecot;
/** XOAUTH2 only, no password mechanism: as Exchange Online. */
let exchange: TestDovecot;

before(async () => {
  tokens = await startTokenServer();
  [dovecot, exchange] = await Promise.all([
    startDovecot({ oauth2: { introspectionUrl: tokens.introspectUrl } }),
    startDovecot({ oauth2: { introspectionUrl: tokens.introspectUrl, only: true } }),
  ]);
});
after(async () => {
  await dovecot?.stop();
  await exchange?.stop();
  await tokens?.close();
});

const RULESETS = ['first', 'second'].map((name) =>
  rulesetOf(
    'rules:\n  - { name: tag, match: { from: billing@ }, actions: [{ addFlags: [$Seen1] }] }\n',
    name,
  ),
);

function userOn(server: TestDovecot): string {
  const user = server.addUser();
  server.seed(user, 'INBOX', [
    { raw: makeMail({ messageId: 'inv', from: 'billing@acme.test' }) },
    { raw: makeMail({ messageId: 'other', from: 'anna@example.com' }) },
  ]);
  return user;
}

/** Runs both rulesets for `user` signed in with `entry`, as a new process would (no token in memory). */
async function run(server: TestDovecot, user: string, entry: OAuth2Entry, state: StateStore) {
  forgetAccessTokens();
  const { password: _password, ...imap } = server.account(user);
  const account = withTokens(
    { ...imap, oauth2: oauth2Settings('billing', { tokenUrl: tokens.tokenUrl, scope: 'imap', ...entry }) },
    state,
  );
  return await runRulesets(
    RULESETS.map((ruleset) => ({ ruleset, account })),
    { state, dryRun: false },
    () => {},
  );
}

const requests = (grant: string) => tokens.requests.get(grant) ?? 0;

function errorsOf(summaries: Awaited<ReturnType<typeof run>>): (string | undefined)[] {
  return summaries.map((summary) => summary.error ?? summary.rules.find((rule) => rule.error)?.error);
}

describe('OAuth2 sign-in (real Dovecot, strict token server)', () => {
  it('a refresh token: one token request for the run, the rotated token kept, then none while the token lives', async () => {
    const user = userOn(dovecot);
    tokens.registerClient('delegated', {});
    const configured = tokens.issueRefreshToken('delegated', user);
    const state = testState();
    const before = requests('refresh_token');
    const first = await run(dovecot, user, { clientId: 'delegated', refreshToken: configured }, state);
    assert.deepEqual(errorsOf(first), [undefined, undefined]);
    assert.equal(requests('refresh_token') - before, 1, 'one token request for both rulesets');
    assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'INBOX', '$Seen1'), ['inv']);
    const stored = await state.get<{ token: string }>(
      stateKey(accountScope(dovecot.account(user)), REFRESH_TOKEN_RECORD),
    );
    assert.ok(stored && stored.value.token !== configured, 'the rotated refresh token is in the state');

    // The configured token is spent: a run that used it would fail. The cached access token serves.
    const second = await run(dovecot, user, { clientId: 'delegated', refreshToken: configured }, state);
    assert.deepEqual(errorsOf(second), [undefined, undefined]);
    assert.equal(requests('refresh_token') - before, 1, 'no token request while the access token lives');
  });

  it('a token the server refuses at login is refreshed once and the login tried once more', async () => {
    const user = userOn(dovecot);
    tokens.registerClient('revoking', {});
    const state = testState();
    const entry = { clientId: 'revoking', refreshToken: tokens.issueRefreshToken('revoking', user) };
    await run(dovecot, user, entry, state);
    const before = requests('refresh_token');
    tokens.revokeAccessTokens();
    const summaries = await run(dovecot, user, entry, state);
    assert.deepEqual(errorsOf(summaries), [undefined, undefined]);
    assert.equal(requests('refresh_token') - before, 1);
  });

  it('a revoked refresh token: every ruleset says to run auth login, one token request, no secret shown', async () => {
    const user = userOn(dovecot);
    tokens.registerClient('public', {});
    const before = requests('refresh_token');
    const summaries = await run(
      dovecot,
      user,
      { clientId: 'public', refreshToken: 'never-issued-token' },
      testState(),
    );
    assert.deepEqual(
      summaries.map((summary) => summary.errorType),
      ['OAuth2Error', 'OAuth2Error'],
    );
    assert.match(
      summaries[0]?.error ?? '',
      /refresh token is revoked or expired: run `mailsift auth login billing`/,
    );
    assert.equal(requests('refresh_token') - before, 1);
    assert.ok(!JSON.stringify(summaries).includes('never-issued-token'));
  });

  it('client credentials on an XOAUTH2-only server: app-only access; a wrong secret names the setting', async () => {
    const user = userOn(exchange);
    tokens.registerClient('app', { secret: 'app-secret-value', appMailboxes: [user] });
    const state = testState();
    const good = await run(exchange, user, { clientId: 'app', clientSecret: 'app-secret-value' }, state);
    assert.deepEqual(errorsOf(good), [undefined, undefined]);
    assert.deepEqual(idsIn(await exchange.mailboxState(user), 'INBOX', '$Seen1'), ['inv']);

    const before = requests('client_credentials');
    const bad = await run(
      exchange,
      user,
      { clientId: 'app', clientSecret: 'wrong-secret-value' },
      testState(),
    );
    assert.match(
      bad[0]?.error ?? '',
      /account "billing": the token server refused client "app": check oauth2\.clientId and oauth2\.clientSecret/,
    );
    assert.equal(requests('client_credentials') - before, 1, 'a 401 is not asked again');
    assert.ok(!JSON.stringify(bad).includes('wrong-secret-value'));
  });

  it('a good token the mailbox refuses (no FullAccess for the app): one retry, then what to check', async () => {
    const user = userOn(exchange);
    const someoneElse = exchange.addUser();
    tokens.registerClient('other-mailbox', { secret: 'other-secret', appMailboxes: [someoneElse] });
    const before = requests('client_credentials');
    const summaries = await run(
      exchange,
      user,
      { clientId: 'other-mailbox', clientSecret: 'other-secret' },
      testState(),
    );
    assert.deepEqual(
      summaries.map((summary) => summary.errorType),
      ['ImapAuthError', 'ImapAuthError'],
    );
    assert.match(
      summaries[0]?.error ?? '',
      /check that the app may open this mailbox \(Exchange: the service principal needs FullAccess/,
    );
    assert.equal(
      requests('client_credentials') - before,
      2,
      'the token, and one fresh one after the refusal',
    );
  });

  it('a Google service account: a JWT signed with its key, checked by the server; a foreign key is refused', async () => {
    const user = userOn(dovecot);
    const pair = () =>
      generateKeyPairSync('rsa', {
        modulusLength: 2048,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      });
    const registered = pair();
    tokens.registerServiceAccount('mailsift@project.iam.test', registered.publicKey);
    const key = (privateKey: string) =>
      JSON.stringify({
        client_email: 'mailsift@project.iam.test',
        private_key: privateKey,
        token_uri: tokens.tokenUrl,
      });
    const good = await run(dovecot, user, { serviceAccountKey: key(registered.privateKey) }, testState());
    assert.deepEqual(errorsOf(good), [undefined, undefined]);

    const bad = await run(dovecot, user, { serviceAccountKey: key(pair().privateKey) }, testState());
    assert.match(
      bad[0]?.error ?? '',
      /refused the service account: check its key and its domain-wide delegation/,
    );
    assert.ok(!JSON.stringify(bad).includes('PRIVATE KEY'));
  });

  it('a 503 from the token server is asked again; the run goes ahead', async () => {
    const user = userOn(dovecot);
    tokens.registerClient('flaky', {});
    const before = requests('refresh_token');
    tokens.failNext(503);
    const summaries = await run(
      dovecot,
      user,
      { clientId: 'flaky', refreshToken: tokens.issueRefreshToken('flaky', user) },
      testState(),
    );
    assert.deepEqual(errorsOf(summaries), [undefined, undefined]);
    assert.equal(requests('refresh_token') - before, 2);
  });

  it('a run cut after the rotated token was stored, before anything else: the next run works', async () => {
    const user = userOn(dovecot);
    tokens.registerClient('cut', {});
    const state = testState();
    const entry = { clientId: 'cut', refreshToken: tokens.issueRefreshToken('cut', user) };
    const { password: _password, ...imap } = dovecot.account(user);
    const settings = oauth2Settings('billing', { tokenUrl: tokens.tokenUrl, scope: 'imap', ...entry });
    // The write-back to where the token was configured fails, as a crash right after the state write would.
    const crashing = withTokens({ ...imap, oauth2: settings }, state, async () => {
      throw new Error('killed');
    });
    forgetAccessTokens();
    await assert.rejects(crashing.tokens?.token() ?? Promise.resolve(), /killed/);
    const summaries = await run(dovecot, user, entry, state);
    assert.deepEqual(errorsOf(summaries), [undefined, undefined]);
  });

  it('keeps tokens in state files only the owner can read, and nowhere a token server body should not be', async () => {
    const state = testState();
    const user = userOn(dovecot);
    tokens.registerClient('files', { secret: 'files-secret' });
    await run(
      dovecot,
      user,
      {
        clientId: 'files',
        clientSecret: 'files-secret',
        refreshToken: tokens.issueRefreshToken('files', user),
      },
      state,
    );
    const root = (state as unknown as { root: string }).root;
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else files.push(path);
      }
    };
    walk(root);
    const tokenFiles = files.filter((file) => file.includes('oauth'));
    assert.ok(tokenFiles.length >= 2, files.join('\n'));
    for (const file of tokenFiles) assert.equal(statSync(file).mode & 0o777, 0o600, file);
    // The client secret goes in the token request's body (client_secret_post), never elsewhere.
    assert.ok(
      tokens.bodies
        .filter((body) => body.includes('files-secret'))
        .every((body) => body.includes('grant_type=')),
    );
  });

  it("Exchange's BYE AccessTokenExpired mid-run: a new session with a new token runs the ruleset again, and the run goes on", async () => {
    const user = userOn(exchange);
    tokens.registerClient('expiring', { secret: 'expiring-secret', appMailboxes: [user] });
    const proxy = await startFaultProxyFor(exchange);
    try {
      // The 6th command of the run (inside the first ruleset): the token expires, the server hangs up.
      proxy.arm({
        kind: 'bye',
        at: 6,
        text: 'Session invalidated - AccessTokenExpired',
        onBye: () => tokens.revokeAccessTokens(),
      });
      forgetAccessTokens();
      const state = testState();
      const { password: _password, ...imap } = exchange.account(user);
      const settings = oauth2Settings('billing', {
        tokenUrl: tokens.tokenUrl,
        scope: 'imap',
        clientId: 'expiring',
        clientSecret: 'expiring-secret',
      });
      const account = withTokens({ ...imap, port: proxy.port, oauth2: settings }, state);
      const before = requests('client_credentials');
      const summaries = await runRulesets(
        RULESETS.map((ruleset) => ({ ruleset, account })),
        { state, dryRun: false },
        () => {},
      );
      assert.deepEqual(errorsOf(summaries), [undefined, undefined]);
      assert.ok(proxy.struck(), 'the server hung up');
      const logins = proxy.commands().filter((line) => / AUTHENTICATE /i.test(line));
      assert.equal(logins.length, 3, 'the first login, the refused cached token, the new token');
      assert.equal(requests('client_credentials') - before, 2);
      assert.deepEqual(idsIn(await exchange.mailboxState(user), 'INBOX', '$Seen1'), ['inv']);
    } finally {
      await proxy.close();
    }
  });
});
