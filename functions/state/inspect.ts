import type { StateStore, StoredRecord } from './store.ts';

/** One record as `mailsift state` sees it: readable, or not, with where it lives and why not. */
export interface RawRecord {
  readonly key: string;
  /** Where it is, for a person: a file path, or table and key. */
  readonly where: string;
  /** Absent when the backend could not read it as a record at all. */
  readonly record?: StoredRecord;
  /** Why it is no record (not JSON, no version): what a run would stop at. */
  readonly unreadable?: string;
}

/**
 * What `mailsift state` needs of a backend beyond StateStore: every record, expired ones left out, damaged ones
 * included instead of thrown; and a damaged record moved aside, kept (never deleted), where no run reads it.
 */
export interface InspectableStore extends StateStore {
  /** Every record whose key starts with `prefix` (`''`: every account). */
  inspect(prefix: string): Promise<RawRecord[]>;
  /** Moves the record aside, named with `label` (`damaged-TIME`, `forgotten-TIME`); returns where it is now. */
  setAside(key: string, label: string): Promise<string>;
}

export function isInspectable(store: StateStore): store is InspectableStore {
  const candidate = store as Partial<InspectableStore>;
  return typeof candidate.inspect === 'function' && typeof candidate.setAside === 'function';
}

/** A set-aside name: why, and the time, without characters a file name or a key segment would mind. */
export function asideLabel(why: 'damaged' | 'forgotten', now: Date): string {
  return `${why}-${now.toISOString().replace(/[:.]/g, '-')}`;
}

/** Where a store without files keeps a record set aside: `SCOPE/damaged/LABEL/REST`, which no run lists. */
export function asideKey(key: string, label: string): string {
  const [scope, ...rest] = key.split('/');
  return [scope, 'damaged', label, ...rest].join('/');
}
