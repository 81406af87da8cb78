import { UsageError } from '../errors.ts';
import { INSECURE_STATE_ENV } from './file-permissions.ts';
import { defaultStateDirectory, FileStateStore } from './file-store.ts';
import type { StateStore } from './store.ts';

const DYNAMODB_PREFIX = 'dynamodb:';

/**
 * The state store a `--state` value names: `dynamodb:TABLE` (the table a deployment's stack created, region and
 * credentials from the AWS environment), else a directory; without one, the default directory (see
 * defaultStateDirectory). The DynamoDB client is loaded only when asked for. `readOnly` (a dry run): a directory
 * is only read, not even swept.
 * @throws UsageError for `dynamodb:` without a table name.
 */
export async function openStateStore(
  spec: string | undefined,
  env: NodeJS.ProcessEnv,
  options: { readonly readOnly?: boolean } = {},
): Promise<StateStore> {
  if (spec?.startsWith(DYNAMODB_PREFIX)) {
    const table = spec.slice(DYNAMODB_PREFIX.length);
    if (!/^[\w.-]{3,255}$/.test(table)) throw new UsageError(`--state ${spec}: expected dynamodb:TABLE_NAME`);
    const [{ DynamoDBClient }, { DynamoDbStateStore }] = await Promise.all([
      import('@aws-sdk/client-dynamodb'),
      import('./dynamodb-store.ts'),
    ]);
    return new DynamoDbStateStore(new DynamoDBClient({}), table);
  }
  const insecure = env[INSECURE_STATE_ENV] === '1';
  return new FileStateStore(defaultStateDirectory(env, spec), { ...options, insecure });
}
