import { MailsiftError } from '../errors.ts';

/** One record as stored: its value, a version that grows with every write, and when it expires. */
export interface StoredRecord<T = unknown> {
  readonly key: string;
  readonly value: T;
  /** 1 for a new record, one more for each write after that; the compare-and-set token. */
  readonly version: number;
  /** Milliseconds since the epoch; past it the record counts as absent. */
  readonly expiresAt?: number;
}

export interface PutOptions {
  /**
   * Compare-and-set: `0` writes only when the record is absent (or expired), a number only when the stored
   * version is that number. Without it the write is unconditional.
   */
  readonly expectedVersion?: number;
  /** When the record expires (milliseconds since the epoch); none: kept until deleted. */
  readonly expiresAt?: number;
}

/**
 * What mailsift remembers between runs (leases, copy journal, webhook deliveries, pending expunges), behind
 * one small interface with a backend per place: files for the CLI, DynamoDB on AWS, memory for unit tests.
 * Keys are `/`-separated; the first segment is the account scope (see `accountScope`), which a backend may use
 * as its partition. Every method throws StateStoreError when the backend fails.
 */
export interface StateStore {
  /** A short description for messages: where the state lives (`file /path`, `dynamodb table`). */
  readonly description: string;
  get<T = unknown>(key: string): Promise<StoredRecord<T> | undefined>;
  /**
   * Writes `value` (JSON-serialisable) and returns the new version.
   * @throws StateConflictError when `expectedVersion` does not hold.
   */
  put(key: string, value: unknown, options?: PutOptions): Promise<number>;
  /**
   * Deletes a record; absent is fine.
   * @throws StateConflictError when `expectedVersion` is given and does not hold.
   */
  delete(key: string, options?: { readonly expectedVersion?: number }): Promise<void>;
  /** Every live record whose key starts with `prefix`, which must include a whole first segment and `/`. */
  list<T = unknown>(prefix: string): Promise<StoredRecord<T>[]>;
}

/** A compare-and-set write found another version than expected: someone else wrote first. */
export class StateConflictError extends MailsiftError {
  readonly key: string;
  constructor(key: string) {
    super(`state record ${key} was changed by someone else`);
    this.key = key;
  }
}

/** The state store could not be read or written (disk, permissions, DynamoDB); nothing was acted on after it. */
export class StateStoreError extends MailsiftError {}

/**
 * The key segment that scopes an account's records: the mailbox owner, not the name an accounts file gives the
 * account, so that renaming it there keeps its state, and two names for one mailbox share one lease.
 */
export function accountScope(account: { readonly user: string; readonly host: string }): string {
  return keySegment(`${account.user}@${account.host.toLowerCase()}`);
}

/** One key segment from any text: no `/`, never `.` or `..`, safe as a file name. */
export function keySegment(text: string): string {
  const encoded = encodeURIComponent(text).replace(/\./g, '%2E').replace(/\*/g, '%2A');
  return encoded === '' ? '%' : encoded;
}

/** Joins segments (each made with `keySegment`, or already one) into a key. */
export function stateKey(...segments: readonly string[]): string {
  return segments.join('/');
}

/** Whether a record has expired at `now`. */
export function isExpired(record: { readonly expiresAt?: number }, now: number): boolean {
  return record.expiresAt !== undefined && record.expiresAt <= now;
}

/** Throws StateConflictError unless `current` (the stored version, 0 when absent) is what the write expects. */
export function checkExpectedVersion(key: string, current: number, expected: number | undefined): void {
  if (expected !== undefined && expected !== current) throw new StateConflictError(key);
}
