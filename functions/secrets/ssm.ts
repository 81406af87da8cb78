import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { AccountError } from '../errors.ts';
import type { ImapAccount } from '../imap/session.ts';
import { type OAuth2Entry, type OAuth2Settings, oauth2Settings } from '../oauth/settings.ts';
import type { ConfiguredAccount } from './local.ts';
import { mapSecretResolver, type SecretResolver } from './resolve.ts';

/**
 * How long a value read from Parameter Store is reused by warm invocations. Short enough that a rotated
 * password is picked up within minutes, long enough that a 1-minute schedule reads each parameter ~once.
 */
export const PARAMETER_MAX_AGE_SECONDS = 300;

const DEFAULT_PORTS = { implicit: 993, starttls: 143 } as const;

/**
 * Parameter Store allows 40 GetParameter calls a second per account and Region by default; a fleet's workers
 * starting at one tick can pass it. Throttled reads are retried with the SDK's backoff (jittered, doubling from
 * 0.5 s for throttling; adaptive mode also slows this client while it is throttled) instead of failing the run:
 * up to 6 tries, some 15 s on average and under a minute at worst, inside the worker's 5-minute timeout.
 */
export const SSM_CLIENT_CONFIG = { maxAttempts: 6, retryMode: 'adaptive' } as const;

/** Parameter names (`<prefix>/accounts/<account>`), shared with the CDK stack's IAM policy. */
export function accountParameterName(prefix: string, account: string): string {
  return `${prefix.replace(/\/$/, '')}/accounts/${account}`;
}

/**
 * Where an OAuth2 account's refresh token lives on AWS (`<prefix>/oauth/<account>/refresh-token`): read at the
 * start of a run, and overwritten with a rotated one. The stack grants these by prefix (`<prefix>/oauth/*`).
 */
export function refreshTokenParameterName(prefix: string, account: string): string {
  return `${prefix.replace(/\/$/, '')}/oauth/${account}/refresh-token`;
}

const OAUTH2_FIELDS = ['provider', 'tenant', 'clientId', 'clientSecret', 'scope', 'tokenUrl'] as const;

/** The `oauth2` object of an account parameter, as an entry (no zod on the Lambda's path). @throws AccountError */
function oauth2EntryOf(name: string, value: unknown): OAuth2Entry {
  if (!value || typeof value !== 'object')
    throw new AccountError(`parameter ${name}: oauth2 must be an object`);
  const record = value as Record<string, unknown>;
  const entry: Record<string, string> = {};
  for (const field of OAUTH2_FIELDS) {
    const found = record[field];
    if (found === undefined) continue;
    if (typeof found !== 'string' || found === '')
      throw new AccountError(`parameter ${name}: oauth2.${field} must be a non-empty string`);
    entry[field] = found;
  }
  if (entry.provider !== undefined && entry.provider !== 'microsoft' && entry.provider !== 'google')
    throw new AccountError(`parameter ${name}: oauth2.provider must be microsoft or google`);
  const key = record.serviceAccountKey;
  if (key !== undefined) entry.serviceAccountKey = typeof key === 'string' ? key : JSON.stringify(key);
  return entry as OAuth2Entry;
}

/**
 * Checks the JSON of an account parameter without zod (kept out of the Lambda bundle); the message names
 * the parameter and field, never a value.
 * @throws AccountError
 */
export function accountFromParameter(name: string, value: unknown): ImapAccount & { oauth2?: OAuth2Entry } {
  const record = value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  const text = (field: string, required: boolean) => {
    const found = record?.[field];
    if (found === undefined && !required) return undefined;
    if (typeof found !== 'string' || found === '') {
      throw new AccountError(`parameter ${name}: ${field} must be a non-empty string`);
    }
    return found;
  };
  if (!record)
    throw new AccountError(
      `parameter ${name} must hold a JSON object {host, port, tls, user, password, ca?}`,
    );
  const tls = record.tls ?? 'implicit';
  if (tls !== 'implicit' && tls !== 'starttls')
    throw new AccountError(`parameter ${name}: tls must be implicit or starttls`);
  const port = record.port ?? DEFAULT_PORTS[tls];
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new AccountError(`parameter ${name}: port must be a whole number from 1 to 65535`);
  }
  const ca = text('ca', false);
  const oauth2 = record.oauth2 === undefined ? undefined : oauth2EntryOf(name, record.oauth2);
  return {
    host: text('host', true) as string,
    port,
    tls,
    user: text('user', true) as string,
    ...(oauth2 ? {} : { password: text('password', true) as string }),
    ...(ca ? { ca } : {}),
    ...(oauth2 ? { oauth2 } : {}),
  };
}

/** Accounts and `{ parameter }` references from SSM Parameter Store (SecureStrings decrypted), cached. */
export interface ParameterStoreSecrets {
  loadAccount(account: string): Promise<ConfiguredAccount>;
  readonly resolver: SecretResolver;
  /** Overwrites an account's refresh-token parameter with a rotated token (SecureString). */
  persistRefreshToken(settings: OAuth2Settings, token: string): Promise<void>;
}

export function parameterStoreSecrets(options: {
  prefix: string;
  provider?: SSMProvider;
}): ParameterStoreSecrets {
  const provider = options.provider ?? new SSMProvider({ clientConfig: SSM_CLIENT_CONFIG });
  /** A parameter that may not exist yet (a refresh token before the first sign-in). */
  const readOptional = async (name: string): Promise<string | undefined> => {
    try {
      return await read(name);
    } catch (error) {
      if (/ParameterNotFound/.test(String((error as Error).message))) return undefined;
      throw error;
    }
  };
  const read = async (name: string): Promise<string | undefined> => {
    try {
      const value = await provider.get(name, { decrypt: true, maxAge: PARAMETER_MAX_AGE_SECONDS });
      return typeof value === 'string' ? value : undefined;
    } catch (error) {
      const cause = (error as { cause?: { name?: string } }).cause?.name ?? (error as Error).name;
      throw new AccountError(`cannot read parameter ${name} from Parameter Store (${cause})`, {
        cause: error,
      });
    }
  };
  return {
    async loadAccount(account) {
      const name = accountParameterName(options.prefix, account);
      const value = await read(name);
      if (value === undefined) throw new AccountError(`parameter ${name} is empty`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        throw new AccountError(`parameter ${name} is not valid JSON`);
      }
      const { oauth2, ...imap } = accountFromParameter(name, parsed);
      if (!oauth2) return imap;
      const refreshName = refreshTokenParameterName(options.prefix, account);
      const refreshToken = oauth2.serviceAccountKey ? undefined : await readOptional(refreshName);
      return {
        ...imap,
        oauth2: oauth2Settings(account, {
          ...oauth2,
          ...(refreshToken ? { refreshToken, refreshTokenParameter: refreshName } : {}),
        }),
      };
    },
    resolver: mapSecretResolver(process.env, { source: 'Parameter Store', get: read }),
    async persistRefreshToken(settings, token) {
      const name = refreshTokenParameterName(options.prefix, settings.account);
      try {
        await provider.set(name, { value: token, overwrite: true, parameterType: 'SecureString' });
      } catch (error) {
        const cause = (error as { cause?: { name?: string } }).cause?.name ?? (error as Error).name;
        throw new AccountError(`cannot write the rotated refresh token to ${name} (${cause})`, {
          cause: error,
        });
      }
    },
  };
}
