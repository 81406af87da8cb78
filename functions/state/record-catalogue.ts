import { parseCheckpoint } from './checkpoints.ts';
import { StateStoreError, type StoredRecord } from './store.ts';

/**
 * Every kind of record mailsift keeps, told apart by its key (store.ts: the account scope, then the kind): what
 * a readable one of its kind looks like, and what the next run does without it, for `mailsift state check` and
 * `repair`. A record of no kind here is foreign: no run reads it.
 */
export type RecordKind =
  | 'lease'
  | 'checkpoint'
  | 'copy journal'
  | 'deliveries'
  | 'pending expunge'
  | 'history entry'
  | 'history index'
  | 'token'
  | 'tick'
  | 'set aside'
  | 'foreign';

export interface CataloguedKey {
  readonly kind: RecordKind;
  /** The account's state scope (decoded: `user@host`), where the key has one. */
  readonly account?: string;
  /** The key's other segments, decoded: ruleset and mailbox of a checkpoint, mailbox of deliveries… */
  readonly parts: readonly string[];
}

const BY_SEGMENT: Readonly<Record<string, RecordKind>> = {
  lease: 'lease',
  checkpoints: 'checkpoint',
  copies: 'copy journal',
  deliveries: 'deliveries',
  expunges: 'pending expunge',
  journal: 'history entry',
  oauth: 'token',
  damaged: 'set aside',
};

export function catalogue(key: string): CataloguedKey {
  const [first = '', second = '', ...rest] = key.split('/').map(decode);
  // Where DynamoDB and memory keep what was set aside, under any first segment (inspect.ts asideKey).
  if (second === 'damaged')
    return { kind: 'set aside', parts: rest, ...(first === 'mailsift-runs' ? {} : { account: first }) };
  if (first === 'mailsift-runs') return { kind: 'history index', parts: [second, ...rest] };
  if (first.startsWith('ticks:')) return { kind: 'tick', account: first.slice(6), parts: [second, ...rest] };
  const kind = BY_SEGMENT[second];
  return kind
    ? { kind, account: first, parts: rest }
    : { kind: 'foreign', account: first, parts: [second, ...rest] };
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Why `value` is not a record of its kind; undefined when it reads as one. */
export function damageOf(entry: Pick<CataloguedKey, 'kind' | 'parts'>, value: unknown): string | undefined {
  const { kind } = entry;
  const object = value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  if (kind === 'set aside' || kind === 'foreign') return undefined;
  if (!object) return 'its value is not an object';
  const missing = (fields: Readonly<Record<string, string>>) => {
    const wrong = Object.entries(fields).filter(([field, type]) => typeof object[field] !== type);
    return wrong.length > 0
      ? `no ${wrong.map(([field, type]) => `${field} (${type})`).join(', ')}`
      : undefined;
  };
  switch (kind) {
    case 'lease':
      return missing({ token: 'string', expiresAt: 'number', host: 'string', pid: 'number' });
    case 'checkpoint':
      return parseCheckpoint(object)
        ? undefined
        : 'not a checkpoint (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, times)';
    case 'copy journal':
      return (
        missing({ ruleset: 'string', rule: 'string', source: 'string', target: 'string', uids: 'string' }) ??
        uidsDamage(object.uids)
      );
    case 'deliveries':
    case 'pending expunge':
      return missing({ uids: 'string' }) ?? uidsDamage(object.uids);
    case 'history entry':
      return (
        missing({ id: 'string', startedAt: 'string', ruleset: 'string', account: 'string' }) ??
        (Array.isArray(object.rules) ? undefined : 'no rules (array)')
      );
    case 'history index':
      return missing({ scope: 'string', account: 'string', ruleset: 'string' });
    case 'token':
      return entry.parts[0] === 'refresh-lock' ? undefined : missing({ token: 'string' });
    case 'tick':
      return undefined;
  }
}

/** IMAP UID ranges as the records write them (`1:5,9`); empty for none. */
const UID_SET = /^(\d+(:\d+)?(,\d+(:\d+)?)*)?$/;

function uidsDamage(uids: unknown): string | undefined {
  return UID_SET.test(String(uids)) ? undefined : 'its UIDs are not a UID set';
}

/** What the next run does once the record is gone (set aside by `state repair`), in a user's words. */
export function withoutIt(entry: CataloguedKey): string {
  const [first = '?', second = '?'] = entry.parts;
  switch (entry.kind) {
    case 'checkpoint':
      return `the next run of ruleset ${first} scans ${second} in full`;
    case 'deliveries':
      return `webhook posts of the messages it recorded in ${first} may be repeated, unless they carry the webhook's keyword`;
    case 'copy journal':
      return 'copies it recorded may be made again if the run that wrote it was cut before marking its messages';
    case 'pending expunge':
      return `an interrupted expunge in ${first} is not finished: its messages may stay marked \\Deleted`;
    case 'history entry':
      return `run ${first} leaves the history: it can no longer be shown or undone`;
    case 'history index':
      return `mailsift history and undo no longer find run ${first}`;
    case 'lease':
      return 'the account is free: the next run takes a new lease';
    case 'token':
      return first === 'refresh-token'
        ? 'the account must sign in again: mailsift auth login'
        : 'a new access token is fetched';
    case 'tick':
      return 'the next scheduled tick of the ruleset runs, even if an earlier run covered it';
    case 'set aside':
    case 'foreign':
      return 'nothing: no run reads it';
  }
}

/** A record whose value is not of its kind's shape: the run stops at it, naming it, rather than misread it. */
export class DamagedStateError extends StateStoreError {
  readonly key: string;
  constructor(key: string, why: string) {
    const entry = catalogue(key);
    super(
      `state record ${key} (${entry.kind}) is damaged: ${why}; \`mailsift state repair\` sets it aside, and then ` +
        withoutIt(entry),
    );
    this.key = key;
  }
}

/** `record`, checked against its kind (by its key). @throws DamagedStateError */
export function intact<T>(record: StoredRecord<unknown>): StoredRecord<T> {
  const why = damageOf(catalogue(record.key), record.value);
  if (why) throw new DamagedStateError(record.key, why);
  return record as StoredRecord<T>;
}
