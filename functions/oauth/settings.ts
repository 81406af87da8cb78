import { AccountError } from '../errors.ts';

/** A Google service account's key file (the JSON Google hands out), the fields mailsift uses. */
export interface ServiceAccountKey {
  readonly clientEmail: string;
  readonly privateKey: string;
  readonly tokenUri: string;
}

/**
 * An account's OAuth2 settings with every secret resolved. Which flow a run takes follows from what is there:
 * a service account key (Google Workspace, RFC 7523 JWT), else a refresh token (delegated; the state store's
 * ahead of this one), else a client secret alone (client credentials, app-only: Microsoft's IMAP.AccessAsApp).
 */
export interface OAuth2Settings {
  /** The account's name in the accounts file, for messages. */
  readonly account: string;
  readonly provider?: 'microsoft' | 'google';
  readonly clientId: string;
  readonly clientSecret?: string;
  readonly refreshToken?: string;
  /** The Parameter Store parameter the refresh token came from: a rotated one is written back there (AWS). */
  readonly refreshTokenParameter?: string;
  readonly scope: string;
  readonly tokenUrl: string;
  readonly deviceAuthorizationUrl?: string;
  /** Where a browser signs in (`auth login --browser`, RFC 8252 loopback redirect with PKCE). */
  readonly authorizationUrl?: string;
  readonly serviceAccount?: ServiceAccountKey;
}

/** What an accounts file or parameter says, secrets resolved, before the provider's defaults are applied. */
export interface OAuth2Entry {
  readonly provider?: 'microsoft' | 'google';
  readonly tenant?: string;
  readonly clientId?: string;
  readonly clientSecret?: string;
  readonly refreshToken?: string;
  readonly refreshTokenParameter?: string;
  readonly scope?: string;
  readonly tokenUrl?: string;
  readonly deviceAuthorizationUrl?: string;
  readonly authorizationUrl?: string;
  /** The service account key file's JSON text. */
  readonly serviceAccountKey?: string;
}

const MICROSOFT = 'https://login.microsoftonline.com';

/** Endpoints and scopes by provider; a delegated Microsoft token needs offline_access to come with a refresh token. */
function providerDefaults(entry: OAuth2Entry, account: string) {
  if (entry.provider === 'microsoft') {
    if (!entry.tenant && !entry.tokenUrl) {
      throw new AccountError(
        `account ${JSON.stringify(account)}: oauth2.tenant is required for provider microsoft`,
      );
    }
    const base = `${MICROSOFT}/${encodeURIComponent(entry.tenant ?? '')}/oauth2/v2.0`;
    // A secret and no refresh token: the app signs in as itself (client credentials), which takes `.default`.
    const appOnly = Boolean(entry.clientSecret) && !entry.refreshToken;
    return {
      tokenUrl: `${base}/token`,
      deviceAuthorizationUrl: `${base}/devicecode`,
      authorizationUrl: `${base}/authorize`,
      scope: appOnly
        ? 'https://outlook.office365.com/.default'
        : 'https://outlook.office365.com/IMAP.AccessAsUser.All offline_access',
    };
  }
  if (entry.provider === 'google') {
    return {
      tokenUrl: 'https://oauth2.googleapis.com/token',
      deviceAuthorizationUrl: 'https://oauth2.googleapis.com/device/code',
      authorizationUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
      scope: 'https://mail.google.com/',
    };
  }
  return {
    tokenUrl: undefined,
    deviceAuthorizationUrl: undefined,
    authorizationUrl: undefined,
    scope: undefined,
  };
}

/**
 * An endpoint mailsift may send a client secret or token to: `https://`, or plain `http://` on the loopback
 * address only (a token server on this machine: tests, a local proxy).
 */
export function checkEndpoint(url: string, account: string, field: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AccountError(`account ${JSON.stringify(account)}: oauth2.${field} is not a URL`);
  }
  const loopback = parsed.protocol === 'http:' && /^127\.\d+\.\d+\.\d+$/.test(parsed.hostname);
  if (parsed.protocol !== 'https:' && !loopback) {
    throw new AccountError(
      `account ${JSON.stringify(account)}: oauth2.${field} must be an https:// URL (http:// only on 127.0.0.1)`,
    );
  }
  return parsed.href;
}

function serviceAccountOf(json: string, account: string): ServiceAccountKey {
  let key: Record<string, unknown>;
  try {
    key = JSON.parse(json) as Record<string, unknown>;
  } catch {
    throw new AccountError(`account ${JSON.stringify(account)}: oauth2.serviceAccountKey is not JSON`);
  }
  const field = (name: string) => {
    const value = key[name];
    if (typeof value !== 'string' || value === '') {
      throw new AccountError(`account ${JSON.stringify(account)}: oauth2.serviceAccountKey has no ${name}`);
    }
    return value;
  };
  return {
    clientEmail: field('client_email'),
    privateKey: field('private_key'),
    tokenUri: field('token_uri'),
  };
}

/** The settings a run uses, from an entry: the provider's defaults under what the entry sets. @throws AccountError */
export function oauth2Settings(account: string, entry: OAuth2Entry): OAuth2Settings {
  const defaults = providerDefaults(entry, account);
  const serviceAccount = entry.serviceAccountKey
    ? serviceAccountOf(entry.serviceAccountKey, account)
    : undefined;
  const tokenUrl = entry.tokenUrl ?? serviceAccount?.tokenUri ?? defaults.tokenUrl;
  if (!tokenUrl) {
    throw new AccountError(
      `account ${JSON.stringify(account)}: oauth2.tokenUrl is required without a provider`,
    );
  }
  const clientId = entry.clientId ?? serviceAccount?.clientEmail;
  if (!clientId) throw new AccountError(`account ${JSON.stringify(account)}: oauth2.clientId is required`);
  const scope = entry.scope ?? defaults.scope;
  if (!scope)
    throw new AccountError(`account ${JSON.stringify(account)}: oauth2.scope is required without a provider`);
  const canLogIn = entry.deviceAuthorizationUrl ?? entry.authorizationUrl ?? defaults.deviceAuthorizationUrl;
  if (!serviceAccount && !entry.refreshToken && !entry.clientSecret && !canLogIn) {
    throw new AccountError(
      `account ${JSON.stringify(account)}: oauth2 needs a clientSecret, a refreshToken or a serviceAccountKey`,
    );
  }
  const device = entry.deviceAuthorizationUrl ?? defaults.deviceAuthorizationUrl;
  const browser = entry.authorizationUrl ?? defaults.authorizationUrl;
  return {
    account,
    ...(entry.provider ? { provider: entry.provider } : {}),
    clientId,
    ...(entry.clientSecret ? { clientSecret: entry.clientSecret } : {}),
    ...(entry.refreshToken ? { refreshToken: entry.refreshToken } : {}),
    ...(entry.refreshTokenParameter ? { refreshTokenParameter: entry.refreshTokenParameter } : {}),
    scope,
    tokenUrl: checkEndpoint(tokenUrl, account, 'tokenUrl'),
    ...(device ? { deviceAuthorizationUrl: checkEndpoint(device, account, 'deviceAuthorizationUrl') } : {}),
    ...(browser ? { authorizationUrl: checkEndpoint(browser, account, 'authorizationUrl') } : {}),
    ...(serviceAccount ? { serviceAccount } : {}),
  };
}
