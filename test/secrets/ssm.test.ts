/** Parameter Store secrets through the real SDK client (Powertools' SSMProvider) against a loopback stand-in. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { parameterStoreSecrets, SSM_CLIENT_CONFIG } from '../../functions/secrets/ssm.ts';
import { startFakeSsm } from '../helpers/fake-ssm.ts';

const ACCOUNT = JSON.stringify({
  host: 'imap.example.com',
  user: 'ops@example.com',
  password: 's3cr3t-pa55',
});

function secretsAt(url: string, maxAttempts: number = SSM_CLIENT_CONFIG.maxAttempts) {
  const provider = new SSMProvider({
    clientConfig: {
      ...SSM_CLIENT_CONFIG,
      maxAttempts,
      endpoint: url,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    },
  });
  return parameterStoreSecrets({ prefix: '/mailsift', provider });
}

describe('Parameter Store secrets', () => {
  it('backs off on throttling instead of failing the run, then caches the value while warm', async () => {
    const ssm = await startFakeSsm({ '/mailsift/accounts/ops': ACCOUNT }, { throttle: 3 });
    try {
      const secrets = secretsAt(ssm.url);
      const account = await secrets.loadAccount('ops');
      assert.equal(account.user, 'ops@example.com');
      assert.equal(ssm.requests.length, 4, 'three throttled reads, then the one that answered');
      await secrets.loadAccount('ops');
      assert.equal(ssm.requests.length, 4, 'the second load is served from the cache');
    } finally {
      await ssm.close();
    }
  });

  it('gives up after its tries with an error naming the parameter and the cause, never a value', async () => {
    // Two tries here: the error is the same after six, which take half a minute.
    const ssm = await startFakeSsm({ '/mailsift/accounts/ops': ACCOUNT }, { throttle: 100 });
    try {
      await assert.rejects(secretsAt(ssm.url, 2).loadAccount('ops'), (error: Error) => {
        assert.equal(error.name, 'AccountError');
        assert.equal(
          error.message,
          'cannot read parameter /mailsift/accounts/ops from Parameter Store (ThrottlingException)',
        );
        return true;
      });
      assert.equal(ssm.requests.length, 2);
    } finally {
      await ssm.close();
    }
  });

  it('names the field of an account parameter that is wrong, without its value', async () => {
    const ssm = await startFakeSsm({
      '/mailsift/accounts/ops': JSON.stringify({
        host: 'imap.example.com',
        user: 'u',
        password: '',
        port: 0,
      }),
    });
    try {
      await assert.rejects(secretsAt(ssm.url).loadAccount('ops'), {
        name: 'AccountError',
        message: 'parameter /mailsift/accounts/ops: port must be a whole number from 1 to 65535',
      });
    } finally {
      await ssm.close();
    }
  });
});
