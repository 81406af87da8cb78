/**
 * A strict OAuth2 authorization server on 127.0.0.1 for the tests, and Dovecot's token introspection endpoint:
 * - refresh tokens rotate and are spent on use (a second use is `invalid_grant`);
 * - client credentials only with the registered secret (`invalid_client` otherwise), for the app's mailboxes;
 * - JWT bearer assertions (RFC 7523) only with a valid RS256 signature of the registered service account;
 * - device codes answer `authorization_pending` until approved (and `slow_down` when asked to);
 * - browser sign-ins (`/authorize`) redirect to the client's loopback address with a code that is good once, for
 *   that redirect URI, and only with the PKCE verifier of its S256 challenge;
 * - `/introspect` tells Dovecot whether an access token is live and whose it is.
 * Every request is counted by grant type; nothing in it is a mock of mailsift's side.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { importSPKI, jwtVerify } from 'jose';

export interface TestClient {
  readonly secret?: string;
  /** Mailboxes an app-only token (client credentials) may open. */
  readonly appMailboxes?: readonly string[];
}

export interface TokenServer {
  readonly url: string;
  readonly tokenUrl: string;
  readonly deviceUrl: string;
  readonly introspectUrl: string;
  readonly authorizeUrl: string;
  /** Who signs in at `/authorize` from now on (`undefined`: the user refuses, `access_denied`). */
  signInAs(user: string | undefined): void;
  /** Token requests so far, by grant type (`refresh_token`, `client_credentials`, …). */
  readonly requests: Map<string, number>;
  /** Every form body received, to check that no secret went where it should not. */
  readonly bodies: string[];
  registerClient(clientId: string, client: TestClient): void;
  /** The service account's public key (SPKI PEM): assertions it signed are accepted for `clientEmail`. */
  registerServiceAccount(clientEmail: string, publicKeyPem: string): void;
  /** A refresh token for `user`, as a login would have given. */
  issueRefreshToken(clientId: string, user: string): string;
  /** The user approves the device code with this user code. */
  approve(userCode: string, user: string): void;
  /** The next device-code polls answer `slow_down` this many times first. */
  slowDown(times: number): void;
  /** Access tokens issued from now on last this many seconds. */
  setLifetime(seconds: number): void;
  /** Makes every access token issued so far dead (revoked). */
  revokeAccessTokens(): void;
  /** The next token requests answer with this status (e.g. 503), then normally. */
  failNext(...statuses: number[]): void;
  close(): Promise<void>;
}

const token = () => randomBytes(18).toString('base64url');

async function formOf(request: IncomingMessage): Promise<{ raw: string; form: URLSearchParams }> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  return { raw, form: new URLSearchParams(raw) };
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  response.end(JSON.stringify(body));
}

export async function startTokenServer(): Promise<TokenServer> {
  const clients = new Map<string, TestClient>();
  const serviceAccounts = new Map<string, string>();
  const refreshTokens = new Map<string, { clientId: string; user: string }>();
  const accessTokens = new Map<string, { user: string; expiresAt: number }>();
  const devices = new Map<string, { clientId: string; userCode: string; user?: string }>();
  const codes = new Map<string, { clientId: string; redirectUri: string; challenge: string; user: string }>();
  let browserUser: string | undefined;
  const requests = new Map<string, number>();
  const bodies: string[] = [];
  let lifetime = 3600;
  let slowDowns = 0;
  let failures: number[] = [];
  let url = '';

  const issue = (user: string, clientId: string, withRefresh: boolean) => {
    const access = token();
    accessTokens.set(access, { user, expiresAt: Date.now() + lifetime * 1000 });
    const body: Record<string, unknown> = {
      access_token: access,
      token_type: 'Bearer',
      expires_in: lifetime,
    };
    if (withRefresh) {
      const refresh = token();
      refreshTokens.set(refresh, { clientId, user });
      body.refresh_token = refresh;
    }
    return body;
  };

  /** Client authentication (client_secret_post): a registered secret must be sent, and be right. */
  const authenticated = (form: URLSearchParams): string | undefined => {
    const clientId = form.get('client_id') ?? '';
    const client = clients.get(clientId);
    if (!client) return undefined;
    if (client.secret !== undefined && form.get('client_secret') !== client.secret) return undefined;
    return clientId;
  };

  const grants: Record<string, (form: URLSearchParams, response: ServerResponse) => Promise<void> | void> = {
    authorization_code(form, response) {
      const clientId = authenticated(form);
      if (!clientId) return send(response, 401, { error: 'invalid_client' });
      const code = codes.get(form.get('code') ?? '');
      codes.delete(form.get('code') ?? ''); // good once
      const verifier = form.get('code_verifier') ?? '';
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      if (
        !code ||
        code.clientId !== clientId ||
        code.redirectUri !== form.get('redirect_uri') ||
        code.challenge !== challenge
      )
        return send(response, 400, { error: 'invalid_grant' });
      send(response, 200, issue(code.user, clientId, true));
    },
    refresh_token(form, response) {
      const clientId = authenticated(form);
      if (!clientId) return send(response, 401, { error: 'invalid_client' });
      const held = refreshTokens.get(form.get('refresh_token') ?? '');
      if (!held || held.clientId !== clientId) return send(response, 400, { error: 'invalid_grant' });
      refreshTokens.delete(form.get('refresh_token') ?? ''); // spent: rotation
      send(response, 200, issue(held.user, clientId, true));
    },
    client_credentials(form, response) {
      const clientId = authenticated(form);
      const client = clientId ? clients.get(clientId) : undefined;
      if (!clientId || client?.secret === undefined) return send(response, 401, { error: 'invalid_client' });
      const mailbox = client.appMailboxes?.[0];
      if (!mailbox) return send(response, 400, { error: 'unauthorized_client' });
      send(response, 200, issue(mailbox, clientId, false));
    },
    async 'urn:ietf:params:oauth:grant-type:jwt-bearer'(form, response) {
      try {
        const assertion = form.get('assertion') ?? '';
        const [, payloadPart] = assertion.split('.');
        const claimed = JSON.parse(Buffer.from(payloadPart ?? '', 'base64url').toString('utf8')) as {
          iss?: string;
        };
        const pem = serviceAccounts.get(claimed.iss ?? '');
        if (!pem) return send(response, 400, { error: 'invalid_grant' });
        const { payload } = await jwtVerify(assertion, await importSPKI(pem, 'RS256'), {
          issuer: claimed.iss,
          audience: `${url}/token`,
          maxTokenAge: '1h',
        });
        send(response, 200, issue(String(payload.sub), String(payload.iss), false));
      } catch {
        send(response, 400, { error: 'invalid_grant' });
      }
    },
    'urn:ietf:params:oauth:grant-type:device_code'(form, response) {
      const clientId = authenticated(form);
      if (!clientId) return send(response, 401, { error: 'invalid_client' });
      const device = devices.get(form.get('device_code') ?? '');
      if (!device || device.clientId !== clientId) return send(response, 400, { error: 'invalid_grant' });
      if (slowDowns > 0) {
        slowDowns -= 1;
        return send(response, 400, { error: 'slow_down' });
      }
      if (!device.user) return send(response, 400, { error: 'authorization_pending' });
      devices.delete(form.get('device_code') ?? '');
      send(response, 200, issue(device.user, clientId, true));
    },
  };

  /** The user's browser at the sign-in page: straight back to the client with a code (or a refusal). */
  const authorize = (query: URLSearchParams, response: ServerResponse) => {
    const redirect = query.get('redirect_uri') ?? '';
    if (!clients.has(query.get('client_id') ?? '') || !/^http:\/\/127\.0\.0\.1:\d+\//.test(redirect))
      return send(response, 400, { error: 'invalid_request' });
    const back = new URL(redirect);
    back.searchParams.set('state', query.get('state') ?? '');
    if (browserUser === undefined || query.get('code_challenge_method') !== 'S256') {
      back.searchParams.set('error', 'access_denied');
    } else {
      const code = token();
      codes.set(code, {
        clientId: query.get('client_id') ?? '',
        redirectUri: redirect,
        challenge: query.get('code_challenge') ?? '',
        user: browserUser,
      });
      back.searchParams.set('code', code);
    }
    response.writeHead(302, { location: back.href }).end();
  };

  const server: Server = createServer(async (request, response) => {
    const { raw, form } = await formOf(request);
    bodies.push(raw);
    const requestUrl = new URL(request.url ?? '/', 'http://x');
    const path = requestUrl.pathname;
    if (request.method === 'GET' && path === '/authorize')
      return authorize(requestUrl.searchParams, response);
    if (request.method !== 'POST') return send(response, 405, { error: 'invalid_request' });
    if (path === '/introspect') {
      const held = accessTokens.get(form.get('token') ?? '');
      const active = held !== undefined && held.expiresAt > Date.now();
      return send(response, 200, active ? { active: true, username: held.user } : { active: false });
    }
    if (path === '/devicecode') {
      const clientId = authenticated(form);
      if (!clientId) return send(response, 401, { error: 'invalid_client' });
      const deviceCode = token();
      const userCode = randomBytes(4).toString('hex').toUpperCase();
      devices.set(deviceCode, { clientId, userCode });
      return send(response, 200, {
        device_code: deviceCode,
        user_code: userCode,
        verification_uri: `${url}/device`,
        expires_in: 600,
        interval: 1,
      });
    }
    if (path !== '/token') return send(response, 404, { error: 'invalid_request' });
    const grantType = form.get('grant_type') ?? '';
    requests.set(grantType, (requests.get(grantType) ?? 0) + 1);
    const failure = failures.shift();
    if (failure !== undefined) return send(response, failure, { error: 'temporarily_unavailable' });
    const grant = grants[grantType];
    if (!grant) return send(response, 400, { error: 'unsupported_grant_type' });
    await grant(form, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    url,
    tokenUrl: `${url}/token`,
    deviceUrl: `${url}/devicecode`,
    introspectUrl: `${url}/introspect`,
    authorizeUrl: `${url}/authorize`,
    signInAs(user) {
      browserUser = user;
    },
    requests,
    bodies,
    registerClient: (clientId, client) => void clients.set(clientId, client),
    registerServiceAccount: (clientEmail, pem) => void serviceAccounts.set(clientEmail, pem),
    issueRefreshToken(clientId, user) {
      const refresh = token();
      refreshTokens.set(refresh, { clientId, user });
      return refresh;
    },
    approve(userCode, user) {
      for (const device of devices.values()) if (device.userCode === userCode) device.user = user;
    },
    slowDown(times) {
      slowDowns = times;
    },
    setLifetime(seconds) {
      lifetime = seconds;
    },
    revokeAccessTokens: () => accessTokens.clear(),
    failNext(...statuses) {
      failures = statuses;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
