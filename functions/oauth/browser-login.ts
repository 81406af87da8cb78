import { createServer, type Server } from 'node:http';
import * as oauth from 'oauth4webapi';
import { OAuth2Error } from '../errors.ts';
import type { StateStore } from '../state/store.ts';
import type { OAuth2Settings } from './settings.ts';
import { authorizationCodeGrant } from './token-endpoint.ts';
import { storeRefreshToken } from './tokens.ts';

/** How long `auth login --browser` waits for the sign-in before it gives up. */
const WAIT_MS = 10 * 60_000;

/**
 * `mailsift auth login --browser`: the authorization code flow of a native app (RFC 8252 §7.3): a redirect to
 * http://127.0.0.1 on a port of this run, PKCE (RFC 7636) and a `state`. The one flow Google allows for the
 * Gmail scope from a command line. The refresh token goes into the state store; no token is ever shown.
 */
export async function browserLogin(
  settings: OAuth2Settings,
  target: { readonly state: StateStore; readonly scope: string },
  say: (line: string) => void,
): Promise<void> {
  if (!settings.authorizationUrl) {
    throw new OAuth2Error(
      `account ${JSON.stringify(settings.account)}: oauth2.authorizationUrl is required for auth login --browser`,
    );
  }
  const verifier = oauth.generateRandomCodeVerifier();
  const expectedState = oauth.generateRandomState();
  const { server, redirectUri, callback } = await loopback();
  try {
    const url = new URL(settings.authorizationUrl);
    const query: Record<string, string> = {
      client_id: settings.clientId,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: settings.scope,
      state: expectedState,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      // Google hands out a refresh token only when asked for offline access, and again only with consent.
      ...(settings.provider === 'google' ? { access_type: 'offline', prompt: 'consent' } : {}),
    };
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    say(
      `To sign in account ${settings.account}, open this address in a browser on this machine:\n  ${url.href}`,
    );
    say(`Waiting for the sign-in (at ${redirectUri}) …`);
    const returned = await callback;
    let parameters: URLSearchParams;
    try {
      parameters = oauth.validateAuthResponse(
        { issuer: new URL(settings.tokenUrl).origin, token_endpoint: settings.tokenUrl },
        { client_id: settings.clientId },
        returned,
        expectedState,
      );
    } catch (error) {
      const code = (error as { error?: string }).error;
      throw new OAuth2Error(
        `account ${JSON.stringify(settings.account)}: the sign-in did not complete (${code ?? 'invalid answer'})`,
        { code },
      );
    }
    const tokens = await authorizationCodeGrant(settings, parameters, redirectUri, verifier);
    if (!tokens.refreshToken) {
      throw new OAuth2Error(
        `account ${JSON.stringify(settings.account)}: the token server gave no refresh token`,
      );
    }
    await storeRefreshToken(target.state, target.scope, tokens.refreshToken);
    say(
      `Signed in. Runs of ${settings.account} use this sign-in from now on (kept in ${target.state.description}).`,
    );
  } finally {
    server.close();
  }
}

/** A one-shot HTTP listener on 127.0.0.1 for the redirect; `callback` is the URL the browser came back with. */
async function loopback(): Promise<{ server: Server; redirectUri: string; callback: Promise<URL> }> {
  let deliver: (url: URL) => void = () => {};
  let fail: (error: Error) => void = () => {};
  const callback = new Promise<URL>((resolve, reject) => {
    deliver = resolve;
    fail = reject;
  });
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    if (!url.searchParams.has('code') && !url.searchParams.has('error')) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    response.end('mailsift: the sign-in reached the command line; you can close this tab.\n');
    deliver(url);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const timer = setTimeout(
    () => fail(new OAuth2Error('no sign-in came back within 10 minutes; run auth login again')),
    WAIT_MS,
  );
  timer.unref();
  void callback.finally(() => clearTimeout(timer)).catch(() => {});
  return { server, redirectUri: `http://127.0.0.1:${port}/`, callback };
}
