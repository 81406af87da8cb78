import { parseArgs } from 'node:util';
import { type CliIo, EXIT } from './cli-io.ts';
import { UsageError } from './errors.ts';
import { browserLogin } from './oauth/browser-login.ts';
import { deviceLogin } from './oauth/device-login.ts';
import { loadAccountsFile, localSecretResolver } from './secrets/local.ts';
import { openStateStore } from './state/open-store.ts';
import { accountScope } from './state/store.ts';

/** `mailsift auth login ACCOUNT`: a device login for an OAuth2 account; its refresh token goes to the state. */
export async function commandAuth(args: string[], io: CliIo): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      accounts: { type: 'string' },
      parameters: { type: 'string' },
      state: { type: 'string' },
      browser: { type: 'boolean', default: false },
    },
  });
  const [verb, name] = positionals;
  if (verb !== 'login' || !name || positionals.length > 2) throw new UsageError('auth takes: login ACCOUNT');
  const accountsFile = values.accounts ?? io.env.MAILSIFT_ACCOUNTS;
  if (!accountsFile) throw new UsageError('no accounts file: pass --accounts FILE or set MAILSIFT_ACCOUNTS');
  const secrets = localSecretResolver(io.env, values.parameters ?? (io.env.MAILSIFT_PARAMETERS || undefined));
  const account = await loadAccountsFile(accountsFile).resolve(name, secrets);
  if (!account.oauth2)
    throw new UsageError(`account ${JSON.stringify(name)} signs in with a password, not oauth2`);
  const state = await openStateStore(values.state, io.env);
  const target = { state, scope: accountScope(account) };
  const say = (line: string) => io.stdout(`${line}\n`);
  // Google's device flow does not take the Gmail scope: a browser sign-in is the way there.
  const browser =
    values.browser || account.oauth2.provider === 'google' || !account.oauth2.deviceAuthorizationUrl;
  await (browser ? browserLogin(account.oauth2, target, say) : deviceLogin(account.oauth2, target, say));
  return EXIT.ok;
}
