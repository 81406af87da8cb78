/**
 * A real DynamoDB API in memory for one test file: `dynalite` on 127.0.0.1, a table created as the CDK stack
 * creates it (partition + sort key), and a real `@aws-sdk/client-dynamodb` client pointed at it.
 */
import assert from 'node:assert/strict';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { STATE_TABLE_KEYS } from '../../functions/state/dynamodb-store.ts';

export interface TestDynamo {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  /** Creates a fresh state table and returns its name (DynamoDB names need 3 characters or more). */
  createStateTable(): Promise<string>;
  stop(): Promise<void>;
}

let tables = 0;

export async function startDynalite(): Promise<TestDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  assert.ok(address && typeof address === 'object', 'dynalite did not start');
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  return {
    endpoint,
    client,
    async createStateTable() {
      const name = `mailsift-state-${++tables}`;
      await client.send(
        new CreateTableCommand({
          TableName: name,
          KeySchema: [
            { AttributeName: STATE_TABLE_KEYS.partition, KeyType: 'HASH' },
            { AttributeName: STATE_TABLE_KEYS.sort, KeyType: 'RANGE' },
          ],
          AttributeDefinitions: [
            { AttributeName: STATE_TABLE_KEYS.partition, AttributeType: 'S' },
            { AttributeName: STATE_TABLE_KEYS.sort, AttributeType: 'S' },
          ],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      return name;
    },
    async stop() {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
