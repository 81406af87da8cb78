import { asideKey, type InspectableStore, type RawRecord } from './inspect.ts';
import {
  checkExpectedVersion,
  isExpired,
  type PutOptions,
  type StateStore,
  type StoredRecord,
} from './store.ts';

/**
 * A StateStore in memory: for unit tests of the records' decisions, and for a single process that needs no
 * memory across runs. Values are copied in and out, as a real backend would serialise them.
 */
export class MemoryStateStore implements StateStore, InspectableStore {
  readonly description = 'memory';
  private readonly records = new Map<string, StoredRecord>();
  private readonly now: () => number;

  constructor(options: { readonly now?: () => number } = {}) {
    this.now = options.now ?? Date.now;
  }

  async get<T>(key: string): Promise<StoredRecord<T> | undefined> {
    const record = this.live(key);
    return record ? (copy(record) as StoredRecord<T>) : undefined;
  }

  async put(key: string, value: unknown, options: PutOptions = {}): Promise<number> {
    checkExpectedVersion(key, this.live(key)?.version ?? 0, options.expectedVersion);
    // Counting on from an expired record too: a reader holding its version cannot mistake the new one for it.
    const version = (this.records.get(key)?.version ?? 0) + 1;
    this.records.set(key, copy({ key, value, version, expiresAt: options.expiresAt }));
    return version;
  }

  async delete(key: string, options: { readonly expectedVersion?: number } = {}): Promise<void> {
    checkExpectedVersion(key, this.live(key)?.version ?? 0, options.expectedVersion);
    this.records.delete(key);
  }

  async list<T>(prefix: string): Promise<StoredRecord<T>[]> {
    const keys = [...this.records.keys()].filter((key) => key.startsWith(prefix)).sort();
    return keys.flatMap((key) => {
      const record = this.live(key);
      return record ? [copy(record) as StoredRecord<T>] : [];
    });
  }

  async inspect(prefix: string): Promise<RawRecord[]> {
    return (await this.list(prefix)).map((record) => ({ key: record.key, where: record.key, record }));
  }

  /** Under `SCOPE/damaged/LABEL/REST`, as the DynamoDB store keeps it. */
  async setAside(key: string, label: string): Promise<string> {
    const record = this.records.get(key);
    const aside = asideKey(key, label);
    if (record) this.records.set(aside, { ...record, key: aside });
    this.records.delete(key);
    return aside;
  }

  private live(key: string): StoredRecord | undefined {
    const record = this.records.get(key);
    return record && !isExpired(record, this.now()) ? record : undefined;
  }
}

function copy(record: StoredRecord): StoredRecord {
  const { expiresAt, ...rest } = record;
  return {
    ...rest,
    value: JSON.parse(JSON.stringify(record.value ?? null)),
    ...(expiresAt === undefined ? {} : { expiresAt }),
  };
}
