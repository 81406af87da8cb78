/** The accounts file's `oauth2` block: validated before anything connects, errors naming file, field and fix. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadAccountsFile } from '../../functions/secrets/local.ts';
import { mapSecretResolver } from '../../functions/secrets/resolve.ts';

function accountsFile(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'mailsift-accounts-')), 'accounts.yaml');
  writeFileSync(file, yaml);
  return file;
}

const parameters = (values: Record<string, string>) =>
  mapSecretResolver({}, { source: 'parameters.yaml', get: async (name) => values[name] });

describe('accounts file: oauth2', () => {
  it('builds Microsoft settings from the tenant, secrets from env and parameters, never echoing them', async () => {
    const file = accountsFile(`billing:
  host: outlook.office365.com
  user: billing@contoso.com
  oauth2: { provider: microsoft, tenant: contoso.com, clientId: app-id, clientSecret: { env: TEST_CLIENT_SECRET } }
ops:
  host: outlook.office365.com
  user: ops@contoso.com
  oauth2: { provider: microsoft, tenant: contoso.com, clientId: app-id, refreshToken: { parameter: /mailsift/oauth/ops } }
`);
    process.env.TEST_CLIENT_SECRET = 's3cret';
    const billing = await loadAccountsFile(file).resolve('billing');
    assert.equal(billing.password, undefined);
    assert.equal(billing.oauth2?.tokenUrl, 'https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token');
    assert.equal(billing.oauth2?.scope, 'https://outlook.office365.com/.default', 'app-only: .default');
    assert.equal(billing.oauth2?.clientSecret, 's3cret');
    const ops = await loadAccountsFile(file).resolve(
      'ops',
      parameters({ '/mailsift/oauth/ops': 'refresh-1' }),
    );
    assert.equal(ops.oauth2?.refreshToken, 'refresh-1');
    assert.equal(ops.oauth2?.refreshTokenParameter, '/mailsift/oauth/ops');
    assert.match(ops.oauth2?.scope ?? '', /IMAP\.AccessAsUser\.All offline_access/, 'delegated');
  });

  it('refuses an account with both or neither of password and oauth2, and a token URL in the clear', async () => {
    const both = accountsFile(
      'a: { host: h, user: u, password: p, oauth2: { clientId: c, tokenUrl: "https://t/x", scope: s, clientSecret: x } }\n',
    );
    await assert.rejects(
      async () => loadAccountsFile(both),
      /a\.password: expected either password or oauth2/,
    );
    const neither = accountsFile('a: { host: h, user: u }\n');
    await assert.rejects(async () => loadAccountsFile(neither), /expected either password or oauth2/);
    const clear = accountsFile(
      'a: { host: h, user: u, oauth2: { clientId: c, clientSecret: x, scope: s, tokenUrl: "http://tokens.example.com/token" } }\n',
    );
    await assert.rejects(
      loadAccountsFile(clear).resolve('a'),
      /account "a": oauth2\.tokenUrl must be an https:\/\/ URL \(http:\/\/ only on 127\.0\.0\.1\)/,
    );
    const missing = accountsFile(
      'a: { host: h, user: u, oauth2: { provider: google, clientSecret: { parameter: /x } } }\n',
    );
    await assert.rejects(
      loadAccountsFile(missing).resolve('a', parameters({ '/x': 'v' })),
      /account "a": oauth2\.clientId is required/,
    );
  });
});
