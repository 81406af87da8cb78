import { importPKCS8, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import { OAuth2Error } from '../errors.ts';
import type { OAuth2Settings } from './settings.ts';

/** A token response, reduced to what mailsift keeps. */
export interface Tokens {
  readonly accessToken: string;
  /** When the access token stops working (ms since the epoch), from `expires_in`. */
  readonly expiresAt: number;
  /** A new refresh token, where the server rotated it (it must replace the old one at once). */
  readonly refreshToken?: string;
}

/** Without `expires_in`, an access token is taken to last this long: the least any provider here gives. */
const DEFAULT_LIFETIME_S = 3600;
/** A token request is tried again only on network errors and 5xx, after these waits. */
export const TOKEN_RETRY_DELAYS_MS = [500, 2000];

export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

function endpoints(settings: OAuth2Settings): oauth.AuthorizationServer {
  const url = new URL(settings.tokenUrl);
  return {
    issuer: url.origin,
    token_endpoint: settings.tokenUrl,
    ...(settings.deviceAuthorizationUrl
      ? { device_authorization_endpoint: settings.deviceAuthorizationUrl }
      : {}),
  };
}

/**
 * One token request may take this long: all tries together (3 × 8 s, plus 2.5 s of waits) stay within the 30 s a
 * process holds the account's refresh lock (tokens.ts), so no second process can spend the same refresh token.
 */
const REQUEST_TIMEOUT_MS = 8_000;

/** Plain http is allowed only where settings.ts allowed it: the loopback address. Each try has its deadline. */
export function requestOptions(settings: OAuth2Settings) {
  return {
    [oauth.allowInsecureRequests]: new URL(settings.tokenUrl).protocol === 'http:',
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  };
}

function client(settings: OAuth2Settings): { client: oauth.Client; auth: oauth.ClientAuth } {
  return {
    client: { client_id: settings.clientId },
    auth: settings.clientSecret ? oauth.ClientSecretPost(settings.clientSecret) : oauth.None(),
  };
}

/**
 * What the user must do about a refusal, by its RFC 6749 §5.2 code (and Microsoft's AADSTS texts); the server's
 * description is not shown: some servers echo the request, secrets included.
 */
function refusal(settings: OAuth2Settings, error: oauth.ResponseBodyError): OAuth2Error {
  const who = `account ${JSON.stringify(settings.account)}`;
  const description = String(error.error_description ?? '');
  const advice: Record<string, string> = {
    invalid_client: `the token server refused client ${JSON.stringify(settings.clientId)}: check oauth2.clientId and oauth2.clientSecret`,
    invalid_grant: settings.serviceAccount
      ? 'the token server refused the service account: check its key and its domain-wide delegation for this user'
      : `the refresh token is revoked or expired: run \`mailsift auth login ${settings.account}\``,
    unauthorized_client: 'the app may not use this grant: check its registration (and admin consent)',
    invalid_scope: `the token server refused scope ${JSON.stringify(settings.scope)}: check oauth2.scope and the app's API permissions`,
    consent_required: 'nobody consented to the app yet: an administrator must grant consent in the tenant',
  };
  const consent = /AADSTS65001|consent/i.test(description) ? advice.consent_required : undefined;
  const text =
    consent ?? advice[error.error] ?? `the token server refused (${error.error}, HTTP ${error.status})`;
  return new OAuth2Error(`${who}: ${text}`, { code: error.error });
}

/** The HTTP status of a failed token response, where there was one. */
function statusOf(error: unknown): number | undefined {
  if (error instanceof oauth.ResponseBodyError) return error.status;
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Response ? cause.status : undefined;
}

/** Network failures (fetch's TypeError) and 5xx: worth a second try. A 4xx never is: no retry storm. */
function retryable(error: unknown): boolean {
  return error instanceof TypeError || (statusOf(error) ?? 0) >= 500;
}

/** Runs one token request, again on network errors and 5xx only; turns every failure into an OAuth2Error. */
async function withRetries(settings: OAuth2Settings, request: () => Promise<oauth.TokenEndpointResponse>) {
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await request();
      return toTokens(response);
    } catch (error) {
      if (error instanceof oauth.ResponseBodyError && error.status < 500) throw refusal(settings, error);
      const delay = TOKEN_RETRY_DELAYS_MS[attempt];
      if (delay === undefined || !retryable(error)) {
        throw new OAuth2Error(
          `account ${JSON.stringify(settings.account)}: no token from ${settings.tokenUrl} (${reason(error)})`,
          { cause: error },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

function reason(error: unknown): string {
  const status = statusOf(error);
  if (status !== undefined) return `HTTP ${status}`;
  const cause = (error as { cause?: { code?: string } }).cause?.code;
  return cause ?? (error as Error).name ?? 'error';
}

function toTokens(response: oauth.TokenEndpointResponse): Tokens {
  return {
    accessToken: response.access_token,
    expiresAt: Date.now() + (response.expires_in ?? DEFAULT_LIFETIME_S) * 1000,
    ...(response.refresh_token ? { refreshToken: response.refresh_token } : {}),
  };
}

/** `grant_type=refresh_token` (RFC 6749 §6). */
export function refreshGrant(settings: OAuth2Settings, refreshToken: string): Promise<Tokens> {
  const as = endpoints(settings);
  const { client: c, auth } = client(settings);
  return withRetries(settings, async () => {
    const response = await oauth.refreshTokenGrantRequest(as, c, auth, refreshToken, {
      additionalParameters: { scope: settings.scope },
      ...requestOptions(settings),
    });
    return await oauth.processRefreshTokenResponse(as, c, response);
  });
}

/** `grant_type=authorization_code` with the PKCE verifier (RFC 6749 §4.1.3, RFC 7636 §4.5). */
export function authorizationCodeGrant(
  settings: OAuth2Settings,
  callback: URLSearchParams,
  redirectUri: string,
  verifier: string,
): Promise<Tokens> {
  const as = endpoints(settings);
  const { client: c, auth } = client(settings);
  return withRetries(settings, async () => {
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      c,
      auth,
      callback,
      redirectUri,
      verifier,
      requestOptions(settings),
    );
    return await oauth.processAuthorizationCodeResponse(as, c, response);
  });
}

/** `grant_type=client_credentials` (RFC 6749 §4.4): the app signs in as itself. */
export function clientCredentialsGrant(settings: OAuth2Settings): Promise<Tokens> {
  const as = endpoints(settings);
  const { client: c, auth } = client(settings);
  return withRetries(settings, async () => {
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      c,
      auth,
      { scope: settings.scope },
      requestOptions(settings),
    );
    return await oauth.processClientCredentialsResponse(as, c, response);
  });
}

/**
 * A Google service account acting for `user` (domain-wide delegation): a JWT signed with its private key
 * (RS256), `sub` the user, `aud` the token URL, one hour at most (RFC 7523 §3).
 */
export async function serviceAccountGrant(settings: OAuth2Settings, user: string): Promise<Tokens> {
  const key = settings.serviceAccount;
  if (!key) throw new OAuth2Error(`account ${JSON.stringify(settings.account)}: no service account key`);
  let signingKey: Awaited<ReturnType<typeof importPKCS8>>;
  try {
    signingKey = await importPKCS8(key.privateKey, 'RS256');
  } catch {
    throw new OAuth2Error(
      `account ${JSON.stringify(settings.account)}: the service account's private_key is not a PKCS #8 RSA key`,
    );
  }
  const as = endpoints(settings);
  const { client: c } = client(settings);
  return withRetries(settings, async () => {
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ scope: settings.scope })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .setIssuer(key.clientEmail)
      .setSubject(user)
      .setAudience(settings.tokenUrl)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(signingKey);
    const response = await oauth.genericTokenEndpointRequest(
      as,
      c,
      oauth.None(),
      JWT_BEARER,
      { assertion },
      requestOptions(settings),
    );
    return await oauth.processGenericTokenEndpointResponse(as, c, response);
  });
}

export interface DeviceAuthorization {
  readonly deviceCode: string;
  readonly userCode: string;
  readonly verificationUri: string;
  readonly intervalS: number;
  readonly expiresAt: number;
}

/** Starts a device login (RFC 8628 §3.1): the code the user types at the verification URL. */
export async function startDeviceLogin(
  settings: OAuth2Settings,
  scope: string,
): Promise<DeviceAuthorization> {
  const as = endpoints(settings);
  if (!as.device_authorization_endpoint) {
    throw new OAuth2Error(
      `account ${JSON.stringify(settings.account)}: oauth2.deviceAuthorizationUrl is required for auth login`,
    );
  }
  const { client: c, auth } = client(settings);
  try {
    const response = await oauth.deviceAuthorizationRequest(as, c, auth, { scope }, requestOptions(settings));
    const result = await oauth.processDeviceAuthorizationResponse(as, c, response);
    return {
      deviceCode: result.device_code,
      userCode: result.user_code,
      verificationUri: result.verification_uri_complete ?? result.verification_uri,
      intervalS: result.interval ?? 5,
      expiresAt: Date.now() + result.expires_in * 1000,
    };
  } catch (error) {
    if (error instanceof oauth.ResponseBodyError) throw refusal(settings, error);
    throw new OAuth2Error(
      `account ${JSON.stringify(settings.account)}: device login failed (${reason(error)})`,
      { cause: error },
    );
  }
}

/**
 * Polls for the device login's tokens at the interval the server asks for, 5 s slower after each `slow_down`
 * (RFC 8628 §3.5), until the user has approved, refused, or the code expired.
 */
export async function finishDeviceLogin(
  settings: OAuth2Settings,
  device: DeviceAuthorization,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<Tokens> {
  const as = endpoints(settings);
  const { client: c, auth } = client(settings);
  let intervalS = device.intervalS;
  for (;;) {
    await sleep(intervalS * 1000);
    if (Date.now() > device.expiresAt) {
      throw new OAuth2Error(
        `account ${JSON.stringify(settings.account)}: the device code expired before it was approved; run auth login again`,
      );
    }
    try {
      const response = await oauth.deviceCodeGrantRequest(
        as,
        c,
        auth,
        device.deviceCode,
        requestOptions(settings),
      );
      return toTokens(await oauth.processDeviceCodeResponse(as, c, response));
    } catch (error) {
      if (error instanceof oauth.ResponseBodyError && error.error === 'authorization_pending') continue;
      if (error instanceof oauth.ResponseBodyError && error.error === 'slow_down') {
        intervalS += 5;
        continue;
      }
      if (error instanceof oauth.ResponseBodyError && error.error === 'access_denied') {
        throw new OAuth2Error(
          `account ${JSON.stringify(settings.account)}: the sign-in was refused at the verification page`,
          { code: 'access_denied' },
        );
      }
      if (error instanceof oauth.ResponseBodyError) throw refusal(settings, error);
      throw new OAuth2Error(
        `account ${JSON.stringify(settings.account)}: device login failed (${reason(error)})`,
        { cause: error },
      );
    }
  }
}
