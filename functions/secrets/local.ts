import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AccountError } from '../errors.ts';
import type { ImapAccount } from '../imap/session.ts';
import { type OAuth2Settings, oauth2Settings } from '../oauth/settings.ts';
import { formatPath } from '../rules/load.ts';
import { mapSecretResolver, type SecretResolver } from './resolve.ts';

const DEFAULT_PORTS = { implicit: 993, starttls: 143 } as const;

const secretValue = z.union([z.string().min(1), z.strictObject({ env: z.string().min(1) })], {
  error: 'expected a string or { env: NAME }',
});

/** An OAuth2 value: a literal (not for secrets), `{ env }`, or `{ parameter }` from the parameters file. */
const oauthValue = z.union(
  [
    z.string().min(1),
    z.strictObject({ env: z.string().min(1) }),
    z.strictObject({ parameter: z.string().regex(/^\//, 'expected a parameter name starting with /') }),
  ],
  { error: 'expected a string, { env: NAME } or { parameter: /name }' },
);

const OAuth2EntrySchema = z.strictObject({
  provider: z.enum(['microsoft', 'google'], { error: 'expected microsoft or google' }).optional(),
  tenant: z.string().min(1).optional(),
  clientId: oauthValue.optional(),
  clientSecret: oauthValue.optional(),
  refreshToken: oauthValue.optional(),
  scope: z.string().min(1).optional(),
  tokenUrl: z.string().min(1).optional(),
  deviceAuthorizationUrl: z.string().min(1).optional(),
  authorizationUrl: z.string().min(1).optional(),
  serviceAccountKey: oauthValue.optional(),
});

const AccountEntrySchema = z
  .strictObject({
    host: z.string({ error: 'expected a host name' }).min(1, 'expected a host name'),
    port: z.number({ error: 'expected a port number' }).int().min(1).max(65535).optional(),
    tls: z.enum(['implicit', 'starttls'], { error: 'expected implicit or starttls' }).default('implicit'),
    user: secretValue,
    password: secretValue.optional(),
    oauth2: OAuth2EntrySchema.optional(),
    ca: z.string({ error: 'expected the path of a PEM file' }).min(1).optional(),
  })
  .refine((entry) => (entry.password === undefined) !== (entry.oauth2 === undefined), {
    error: 'expected either password or oauth2',
    path: ['password'],
  });

const AccountsFileSchema = z.record(z.string(), AccountEntrySchema);

export type AccountEntry = z.output<typeof AccountEntrySchema>;

/** An account as configured: where it signs in with OAuth2, the settings its tokens come from. */
export type ConfiguredAccount = ImapAccount & { readonly oauth2?: OAuth2Settings };

/** Named accounts from a local file; secrets are resolved only when an account is asked for. */
export interface AccountDirectory {
  readonly source: string;
  /** `secrets` resolves the `{ parameter }` values of an `oauth2` block. */
  resolve(name: string, secrets?: SecretResolver): Promise<ConfiguredAccount>;
}

function resolveSecret(value: string | { env: string }, account: string, field: string): string {
  if (typeof value === 'string') return value;
  const found = process.env[value.env];
  if (found === undefined || found === '') {
    throw new AccountError(
      `account ${JSON.stringify(account)}: ${field} refers to environment variable ${value.env}, which is not set`,
    );
  }
  return found;
}

type OAuthValue = z.output<typeof oauthValue>;

async function resolveOAuth(
  value: OAuthValue | undefined,
  account: string,
  field: string,
  secrets: SecretResolver,
): Promise<string | undefined> {
  if (value === undefined) return undefined;
  if (typeof value === 'string' || 'env' in value) return resolveSecret(value, account, `oauth2.${field}`);
  try {
    return await secrets.resolve(value);
  } catch (error) {
    throw new AccountError(
      `account ${JSON.stringify(account)}: oauth2.${field}: ${(error as Error).message}`,
    );
  }
}

/** The OAuth2 settings of an entry's `oauth2` block, secrets resolved. @throws AccountError */
async function oauth2Of(name: string, entry: z.output<typeof OAuth2EntrySchema>, secrets: SecretResolver) {
  const value = (field: 'clientId' | 'clientSecret' | 'refreshToken' | 'serviceAccountKey') =>
    resolveOAuth(entry[field], name, field, secrets);
  const refreshParameter =
    entry.refreshToken && typeof entry.refreshToken === 'object' && 'parameter' in entry.refreshToken
      ? entry.refreshToken.parameter
      : undefined;
  const [clientId, clientSecret, refreshToken, serviceAccountKey] = await Promise.all([
    value('clientId'),
    value('clientSecret'),
    value('refreshToken'),
    value('serviceAccountKey'),
  ]);
  return oauth2Settings(name, {
    ...entry,
    clientId,
    clientSecret,
    refreshToken,
    serviceAccountKey,
    ...(refreshParameter ? { refreshTokenParameter: refreshParameter } : {}),
  });
}

/** Builds an account from a validated entry; `baseDir` anchors a relative `ca` path. */
export async function accountFromEntry(
  name: string,
  entry: AccountEntry,
  baseDir: string,
  secrets: SecretResolver = mapSecretResolver(process.env),
): Promise<ConfiguredAccount> {
  let ca: string | undefined;
  if (entry.ca) {
    const caPath = resolve(baseDir, entry.ca);
    try {
      ca = readFileSync(caPath, 'utf8');
    } catch (error) {
      throw new AccountError(
        `account ${JSON.stringify(name)}: cannot read ca file ${caPath} (${(error as NodeJS.ErrnoException).code})`,
      );
    }
  }
  return {
    host: entry.host,
    port: entry.port ?? DEFAULT_PORTS[entry.tls],
    tls: entry.tls,
    user: resolveSecret(entry.user, name, 'user'),
    ...(entry.password ? { password: resolveSecret(entry.password, name, 'password') } : {}),
    ...(entry.oauth2 ? { oauth2: await oauth2Of(name, entry.oauth2, secrets) } : {}),
    ...(ca ? { ca } : {}),
  };
}

/**
 * Reads an accounts file (YAML or JSON): account name → `{host, port?, tls?, user, password, ca?}`.
 * @throws AccountError naming the file and field; never echoes a value from the file.
 */
export function loadAccountsFile(file: string): AccountDirectory {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new AccountError(`cannot read accounts file ${file} (${(error as NodeJS.ErrnoException).code})`);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch {
    throw new AccountError(`${file}: not valid YAML or JSON`);
  }
  const parsed = AccountsFileSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const detail =
        issue.code === 'unrecognized_keys' ? `unknown key ${issue.keys.join(', ')}` : issue.message;
      return `${file}: ${formatPath(issue.path)}: ${detail}`;
    });
    throw new AccountError(problems.join('\n'));
  }
  const entries = parsed.data;
  return {
    source: file,
    async resolve(name, secrets) {
      const entry = entries[name];
      if (!entry) throw new AccountError(`account ${JSON.stringify(name)} is not in ${file}`);
      return await accountFromEntry(name, entry, dirname(file), secrets);
    },
  };
}

/**
 * For the CLI: `{ env }` from the environment, `{ parameter }` from a local YAML/JSON file that maps
 * parameter names to values (a stand-in for Parameter Store).
 * @throws AccountError when the parameters file cannot be read.
 */
export function localSecretResolver(env: NodeJS.ProcessEnv, parametersFile?: string): SecretResolver {
  if (!parametersFile) return mapSecretResolver(env);
  let parameters: Record<string, unknown> = {};
  try {
    const data: unknown = parseYaml(readFileSync(parametersFile, 'utf8'));
    if (data && typeof data === 'object') parameters = data as Record<string, unknown>;
  } catch (error) {
    throw new AccountError(
      `cannot read parameters file ${parametersFile} (${(error as Error).message.split('\n')[0]})`,
    );
  }
  return mapSecretResolver(env, {
    source: parametersFile,
    get: async (name) => {
      const value = parameters[name];
      return typeof value === 'string' ? value : undefined;
    },
  });
}
