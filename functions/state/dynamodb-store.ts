import {
  type AttributeValue,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { asideKey, type InspectableStore, type RawRecord } from './inspect.ts';
import {
  type PutOptions,
  StateConflictError,
  type StateStore,
  StateStoreError,
  type StoredRecord,
} from './store.ts';

/** The table's key and attribute names; the CDK stack creates the table with these. */
export const STATE_TABLE_KEYS = { partition: 'pk', sort: 'sk', ttl: 'ttl' } as const;

/**
 * A StateStore in one DynamoDB table: partition key = the key's first segment (the account scope), sort key =
 * the rest. Compare-and-set by condition expressions (refused with ConditionalCheckFailedException); reads are
 * strongly consistent, so a run sees what the run before it wrote. Expired items are filtered on read: DynamoDB's
 * TTL deletes them only within a day or two.
 */
export class DynamoDbStateStore implements StateStore, InspectableStore {
  readonly description: string;
  private readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly now: () => number;

  constructor(client: DynamoDBClient, table: string, options: { readonly now?: () => number } = {}) {
    this.client = client;
    this.table = table;
    this.description = `DynamoDB table ${table}`;
    this.now = options.now ?? Date.now;
  }

  async get<T>(key: string): Promise<StoredRecord<T> | undefined> {
    const output = await this.send('read', key, () =>
      this.client.send(new GetItemCommand({ TableName: this.table, Key: keyOf(key), ConsistentRead: true })),
    );
    return output.Item ? this.live<T>(key, output.Item) : undefined;
  }

  async put(key: string, value: unknown, options: PutOptions = {}): Promise<number> {
    const now = { N: String(this.now()) };
    const condition =
      options.expectedVersion === undefined
        ? undefined
        : options.expectedVersion === 0
          ? 'attribute_not_exists(#version) OR #expiresAt <= :now'
          : '#version = :expected AND (attribute_not_exists(#expiresAt) OR #expiresAt > :now)';
    const set = ['#version = if_not_exists(#version, :zero) + :one', '#value = :value'];
    if (options.expiresAt !== undefined) set.push('#expiresAt = :expiresAt', '#ttl = :ttl');
    const update = `SET ${set.join(', ')}${options.expiresAt === undefined ? ' REMOVE #expiresAt, #ttl' : ''}`;
    const values: Record<string, AttributeValue> = {
      ':zero': { N: '0' },
      ':one': { N: '1' },
      ':value': { S: JSON.stringify(value ?? null) },
      ...(condition ? { ':now': now } : {}),
      ...(options.expectedVersion ? { ':expected': { N: String(options.expectedVersion) } } : {}),
      ...(options.expiresAt === undefined
        ? {}
        : {
            ':expiresAt': { N: String(options.expiresAt) },
            ':ttl': { N: String(Math.ceil(options.expiresAt / 1000)) },
          }),
    };
    const output = await this.send('write', key, () =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: keyOf(key),
          UpdateExpression: update,
          ConditionExpression: condition,
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: values,
          ReturnValues: 'UPDATED_NEW',
        }),
      ),
    );
    return Number(output.Attributes?.version?.N);
  }

  async delete(key: string, options: { readonly expectedVersion?: number } = {}): Promise<void> {
    const expected = options.expectedVersion;
    await this.send('delete', key, () =>
      this.client.send(
        new DeleteItemCommand({
          TableName: this.table,
          Key: keyOf(key),
          ...(expected === undefined
            ? {}
            : expected === 0
              ? {
                  ConditionExpression: 'attribute_not_exists(#version) OR #expiresAt <= :now',
                  ExpressionAttributeNames: { '#version': 'version', '#expiresAt': 'expiresAt' },
                  ExpressionAttributeValues: { ':now': { N: String(this.now()) } },
                }
              : {
                  ConditionExpression:
                    '#version = :expected AND (attribute_not_exists(#expiresAt) OR #expiresAt > :now)',
                  ExpressionAttributeNames: { '#version': 'version', '#expiresAt': 'expiresAt' },
                  ExpressionAttributeValues: {
                    ':expected': { N: String(expected) },
                    ':now': { N: String(this.now()) },
                  },
                }),
        }),
      ),
    );
  }

  async list<T>(prefix: string): Promise<StoredRecord<T>[]> {
    const records: StoredRecord<T>[] = [];
    for (const [key, item] of await this.items(prefix)) {
      const record = this.live<T>(key, item);
      if (record) records.push(record);
    }
    return records;
  }

  async inspect(prefix: string): Promise<RawRecord[]> {
    const found: RawRecord[] = [];
    for (const [key, item] of await this.items(prefix)) {
      const where = `${this.table} ${key}`;
      try {
        const record = this.live(key, item);
        if (record) found.push({ key, where, record });
      } catch (error) {
        found.push({ key, where, unreadable: (error as Error).message });
      }
    }
    return found;
  }

  /**
   * Copied, as it is but without its expiry (kept means kept: TTL would delete it), to `SCOPE/damaged/LABEL/REST`,
   * which no run lists; then deleted only if it is still what was copied (no run rewrote it meanwhile).
   */
  async setAside(key: string, label: string): Promise<string> {
    const aside = asideKey(key, label);
    const output = await this.send('read', key, () =>
      this.client.send(new GetItemCommand({ TableName: this.table, Key: keyOf(key), ConsistentRead: true })),
    );
    if (!output.Item) return `${this.table} ${aside}`;
    const { [STATE_TABLE_KEYS.ttl]: _ttl, expiresAt: _expiresAt, ...kept } = output.Item;
    await this.send('write', aside, () =>
      this.client.send(new PutItemCommand({ TableName: this.table, Item: { ...kept, ...keyOf(aside) } })),
    );
    const same = ['version', 'value'].map((name) =>
      output.Item?.[name] ? `#${name} = :${name}` : `attribute_not_exists(#${name})`,
    );
    await this.send('set aside', key, () =>
      this.client.send(
        new DeleteItemCommand({
          TableName: this.table,
          Key: keyOf(key),
          ConditionExpression: same.join(' AND '),
          ExpressionAttributeNames: { '#version': 'version', '#value': 'value' },
          ...(output.Item?.version || output.Item?.value
            ? {
                ExpressionAttributeValues: {
                  ...(output.Item?.version ? { ':version': output.Item.version } : {}),
                  ...(output.Item?.value ? { ':value': output.Item.value } : {}),
                },
              }
            : {}),
        }),
      ),
    );
    return `${this.table} ${aside}`;
  }

  /** Every item under `prefix`, key and attributes: one account's partition (Query), or all of them (Scan). */
  private async items(prefix: string): Promise<[string, Record<string, AttributeValue>][]> {
    const found: [string, Record<string, AttributeValue>][] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const output = await this.send('list', prefix || '(all)', () =>
        this.client.send(prefix === '' ? this.scan(start) : this.query(prefix, start)),
      );
      for (const item of output.Items ?? []) {
        const key = `${item[STATE_TABLE_KEYS.partition]?.S ?? ''}/${item[STATE_TABLE_KEYS.sort]?.S ?? ''}`;
        if (key.startsWith(prefix)) found.push([key, item]);
      }
      start = output.LastEvaluatedKey;
    } while (start);
    return found;
  }

  private scan(start: Record<string, AttributeValue> | undefined): ScanCommand {
    return new ScanCommand({ TableName: this.table, ConsistentRead: true, ExclusiveStartKey: start });
  }

  private query(prefix: string, start: Record<string, AttributeValue> | undefined): QueryCommand {
    const { pk, sk } = splitKey(prefix);
    return new QueryCommand({
      TableName: this.table,
      ConsistentRead: true,
      KeyConditionExpression: sk ? '#pk = :pk AND begins_with(#sk, :sk)' : '#pk = :pk',
      ExpressionAttributeNames: {
        '#pk': STATE_TABLE_KEYS.partition,
        ...(sk ? { '#sk': STATE_TABLE_KEYS.sort } : {}),
      },
      ExpressionAttributeValues: { ':pk': { S: pk }, ...(sk ? { ':sk': { S: sk } } : {}) },
      ExclusiveStartKey: start,
    });
  }

  private live<T>(key: string, item: Record<string, AttributeValue>): StoredRecord<T> | undefined {
    const expiresAt = item.expiresAt?.N === undefined ? undefined : Number(item.expiresAt.N);
    if (expiresAt !== undefined && expiresAt <= this.now()) return undefined;
    let value: T;
    try {
      value = JSON.parse(item.value?.S ?? 'null') as T;
    } catch (error) {
      throw new StateStoreError(`state item ${key} in ${this.table} holds no JSON value${REPAIR}`, {
        cause: error,
      });
    }
    const version = Number(item.version?.N);
    if (!Number.isInteger(version) || version < 1)
      throw new StateStoreError(`state item ${key} in ${this.table} has no version${REPAIR}`);
    return {
      key,
      value,
      version,
      ...(expiresAt === undefined ? {} : { expiresAt }),
    };
  }

  private async send<T>(what: string, key: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') throw new StateConflictError(key);
      throw new StateStoreError(
        `cannot ${what} state record ${key} in DynamoDB table ${this.table}: ${(error as Error).name}: ` +
          `${(error as Error).message}`,
        { cause: error },
      );
    }
  }
}

const REPAIR = '; `mailsift state repair` moves it aside (the next run starts that record afresh)';

const NAMES = {
  '#version': 'version',
  '#value': 'value',
  '#expiresAt': 'expiresAt',
  '#ttl': STATE_TABLE_KEYS.ttl,
};

function splitKey(key: string): { pk: string; sk: string } {
  const slash = key.indexOf('/');
  if (slash <= 0) throw new StateStoreError(`invalid state key ${JSON.stringify(key)}`);
  return { pk: key.slice(0, slash), sk: key.slice(slash + 1) };
}

function keyOf(key: string): Record<string, AttributeValue> {
  const { pk, sk } = splitKey(key);
  if (!sk) throw new StateStoreError(`invalid state key ${JSON.stringify(key)}`);
  return { [STATE_TABLE_KEYS.partition]: { S: pk }, [STATE_TABLE_KEYS.sort]: { S: sk } };
}
