import { randomUUID } from 'node:crypto';
import { OAuth2Error } from '../errors.ts';
import type { ImapAccount, TokenSource } from '../imap/session.ts';
import { accountScope, StateConflictError, type StateStore, stateKey } from '../state/store.ts';
import type { OAuth2Settings } from './settings.ts';
import { clientCredentialsGrant, refreshGrant, serviceAccountGrant, type Tokens } from './token-endpoint.ts';

export type { TokenSource };

/** An access token is used until this long before it expires: a run started on it must be able to log in. */
export const EXPIRY_MARGIN_MS = 5 * 60_000;

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

/**
 * Access tokens by account, kept for the life of the process: a warm Lambda reuses them, every ruleset of a run
 * shares one. Refreshes under way, by account: a second asker waits for the first refresh instead of starting
 * another (a rotated refresh token can be spent only once).
 */
const memory = new Map<string, CachedToken>();
const refreshing = new Map<string, Promise<CachedToken>>();

export const REFRESH_TOKEN_RECORD = 'oauth/refresh-token';
const ACCESS_TOKEN_RECORD = 'oauth/access-token';
const REFRESH_LOCK_RECORD = 'oauth/refresh-lock';

export interface TokenOptions {
  /** Where refresh and access tokens are kept (file 0600 for the CLI, DynamoDB on AWS); written even in dry runs. */
  readonly state: StateStore;
  /** The account's state scope (`accountScope`). */
  readonly scope: string;
  /** The mailbox user: a service account acts for this user. */
  readonly user: string;
  /** Writes a rotated refresh token back to where it was configured (Parameter Store on AWS). */
  readonly persistRefreshToken?: (token: string) => Promise<void>;
}

/** The token source of one account: cached access token, else one token request (never two at once). */
export function accountTokens(settings: OAuth2Settings, options: TokenOptions): TokenSource {
  const key = `${options.scope}\u0000${settings.clientId}`;
  return {
    async token(refused) {
      // Another process may have stored a newer token than the one refused: that one serves.
      const cached = usable(memory.get(key), refused) ?? usable(await storedAccess(options), refused);
      if (cached) {
        memory.set(key, cached);
        return cached.token;
      }
      if (refused !== undefined) await forgetRefused(options, key, refused);
      const running = refreshing.get(key) ?? newToken(settings, options, key, refused);
      refreshing.set(key, running);
      try {
        return (await running).token;
      } finally {
        refreshing.delete(key);
      }
    },
  };
}

/** Forgets a token the server refused, in memory and in the state: no later run offers it again. */
async function forgetRefused(options: TokenOptions, key: string, refused: string): Promise<void> {
  if (memory.get(key)?.token === refused) memory.delete(key);
  const record = await options.state.get<CachedToken>(stateKey(options.scope, ACCESS_TOKEN_RECORD));
  if (record?.value.token === refused) {
    await options.state
      .delete(stateKey(options.scope, ACCESS_TOKEN_RECORD), { expectedVersion: record.version })
      .catch(() => {});
  }
}

function usable(cached: CachedToken | undefined, refused?: string): CachedToken | undefined {
  return cached && cached.token !== refused && cached.expiresAt - EXPIRY_MARGIN_MS > Date.now()
    ? cached
    : undefined;
}

async function storedAccess(options: TokenOptions): Promise<CachedToken | undefined> {
  const record = await options.state.get<CachedToken>(stateKey(options.scope, ACCESS_TOKEN_RECORD));
  return record?.value;
}

/** How long one process may hold an account's token refresh before another may take it over. */
const REFRESH_LOCK_MS = 30_000;
const REFRESH_LOCK_POLL_MS = 200;

/**
 * One token request for the account, under a lock in the state store: two processes (two CLI runs, or a run and
 * `auth login`) must not both spend one rotating refresh token; the second waits for the first's access token.
 */
async function newToken(
  settings: OAuth2Settings,
  options: TokenOptions,
  key: string,
  refused: string | undefined,
): Promise<CachedToken> {
  const lock = stateKey(options.scope, REFRESH_LOCK_RECORD);
  const owner = randomUUID();
  let version = 0;
  for (;;) {
    try {
      version = await options.state.put(
        lock,
        { owner },
        { expectedVersion: 0, expiresAt: Date.now() + REFRESH_LOCK_MS },
      );
      break;
    } catch (error) {
      if (!(error instanceof StateConflictError)) throw error;
      // Another process is asking: its token, once stored, serves this one too. A holder that died leaves a
      // lock that expires, and the next try takes it.
      const theirs = usable(await storedAccess(options), refused);
      if (theirs) return theirs;
      await new Promise((resolve) => setTimeout(resolve, REFRESH_LOCK_POLL_MS));
    }
  }
  try {
    // The lock is ours: a token stored by the process that held it before serves, unless it is the refused one.
    const stored = usable(await storedAccess(options), refused);
    if (stored) {
      memory.set(key, stored);
      return stored;
    }
    const tokens = await request(settings, options);
    const cached = { token: tokens.accessToken, expiresAt: tokens.expiresAt };
    memory.set(key, cached);
    await options.state.put(stateKey(options.scope, ACCESS_TOKEN_RECORD), cached, {
      expiresAt: tokens.expiresAt,
    });
    return cached;
  } finally {
    await releaseLock(options.state, lock, owner, version);
  }
}

/** Deletes the lock only while it is still this process's: one that expired may be another's by now. */
async function releaseLock(state: StateStore, lock: string, owner: string, version: number): Promise<void> {
  const record = await state.get<{ owner?: string }>(lock).catch(() => undefined);
  if (record?.value.owner !== owner) return;
  await state.delete(lock, { expectedVersion: version }).catch(() => {});
}

/** The flow the settings call for; a rotated refresh token is stored before the access token is used. */
async function request(settings: OAuth2Settings, options: TokenOptions): Promise<Tokens> {
  if (settings.serviceAccount) return await serviceAccountGrant(settings, options.user);
  const refreshKey = stateKey(options.scope, REFRESH_TOKEN_RECORD);
  const stored = await options.state.get<{ token: string }>(refreshKey);
  const refreshToken = stored?.value.token ?? settings.refreshToken;
  if (!refreshToken) {
    if (settings.clientSecret) return await clientCredentialsGrant(settings);
    throw new OAuth2Error(
      `account ${JSON.stringify(settings.account)}: no refresh token yet: run \`mailsift auth login ${settings.account}\``,
    );
  }
  const tokens = await refreshGrant(settings, refreshToken);
  if (tokens.refreshToken && tokens.refreshToken !== refreshToken) {
    // The old one is spent now: the new one is written before anything else can fail (RFC 6749 §10.4).
    await options.state.put(
      refreshKey,
      { token: tokens.refreshToken, at: new Date().toISOString() },
      {
        expectedVersion: stored?.version ?? 0,
      },
    );
    await options.persistRefreshToken?.(tokens.refreshToken);
  }
  return tokens;
}

/** Stores the refresh token a device login got (`mailsift auth login`): later runs use it ahead of a configured one. */
export async function storeRefreshToken(state: StateStore, scope: string, token: string): Promise<void> {
  const key = stateKey(scope, REFRESH_TOKEN_RECORD);
  await state.put(key, { token, at: new Date().toISOString() });
  await state.delete(stateKey(scope, ACCESS_TOKEN_RECORD));
}

/** Forgets the access tokens this process holds (tests: a new process, as the next CLI run is). */
export function forgetAccessTokens(): void {
  memory.clear();
}

/**
 * The account as the IMAP session takes it: where it has OAuth2 settings, with the token source that signs it
 * in. `persistRefreshToken` writes a rotated refresh token back to where it was configured (AWS).
 */
export function withTokens<A extends ImapAccount & { readonly oauth2?: OAuth2Settings }>(
  account: A,
  state: StateStore,
  persistRefreshToken?: (settings: OAuth2Settings, token: string) => Promise<void>,
): ImapAccount {
  const { oauth2, ...imap } = account;
  if (!oauth2) return imap;
  return {
    ...imap,
    tokens: accountTokens(oauth2, {
      state,
      scope: accountScope(account),
      user: account.user,
      ...(persistRefreshToken ? { persistRefreshToken: (token) => persistRefreshToken(oauth2, token) } : {}),
    }),
  };
}
