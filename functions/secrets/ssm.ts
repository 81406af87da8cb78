import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { AccountError } from '../errors.ts';
import type { ImapAccount } from '../imap/session.ts';
import { mapSecretResolver, type SecretResolver } from './resolve.ts';

/**
 * How long a value read from Parameter Store is reused by warm invocations. Short enough that a rotated
 * password is picked up within minutes, long enough that a 1-minute schedule reads each parameter ~once.
 */
export const PARAMETER_MAX_AGE_SECONDS = 300;

const DEFAULT_PORTS = { implicit: 993, starttls: 143 } as const;

/** Parameter names (`<prefix>/accounts/<account>`), shared with the CDK stack's IAM policy. */
export function accountParameterName(prefix: string, account: string): string {
  return `${prefix.replace(/\/$/, '')}/accounts/${account}`;
}

/**
 * Checks the JSON of an account parameter without zod (kept out of the Lambda bundle); the message names
 * the parameter and field, never a value.
 * @throws AccountError
 */
export function accountFromParameter(name: string, value: unknown): ImapAccount {
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
  return {
    host: text('host', true) as string,
    port,
    tls,
    user: text('user', true) as string,
    password: text('password', true) as string,
    ...(ca ? { ca } : {}),
  };
}

/** Accounts and `{ parameter }` references from SSM Parameter Store (SecureStrings decrypted), cached. */
export interface ParameterStoreSecrets {
  loadAccount(account: string): Promise<ImapAccount>;
  readonly resolver: SecretResolver;
}

export function parameterStoreSecrets(options: {
  prefix: string;
  provider?: SSMProvider;
}): ParameterStoreSecrets {
  const provider = options.provider ?? new SSMProvider();
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
      return accountFromParameter(name, parsed);
    },
    resolver: mapSecretResolver(process.env, { source: 'Parameter Store', get: read }),
  };
}
