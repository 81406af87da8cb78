import {
  type PutOptions,
  type StateStore,
  StateStoreError,
  type StoredRecord,
} from '../../functions/state/store.ts';

/** Where a state write is cut: the Nth write (1-based), before it reached the store or after. */
export interface StateCut {
  readonly at: number;
  readonly when: 'before' | 'after';
}

/**
 * A state store that dies at one write, as a process killed there would leave it: `before`, the write never
 * happened; `after`, it happened but the run never learned. From then on every call fails, so the run writes
 * nothing more. Without a cut it only counts the writes.
 */
export class FaultyStateStore implements StateStore {
  readonly description = 'faulty';
  /** `put KEY` / `delete KEY` for every write tried, in order. */
  readonly writes: string[] = [];
  private dead = false;
  private readonly inner: StateStore;
  private readonly cut: StateCut | undefined;

  constructor(inner: StateStore, cut?: StateCut) {
    this.inner = inner;
    this.cut = cut;
  }

  /** Whether the cut struck. */
  get struck(): boolean {
    return this.dead;
  }

  async get<T>(key: string): Promise<StoredRecord<T> | undefined> {
    this.check();
    return await this.inner.get<T>(key);
  }

  async list<T>(prefix: string): Promise<StoredRecord<T>[]> {
    this.check();
    return await this.inner.list<T>(prefix);
  }

  async put(key: string, value: unknown, options?: PutOptions): Promise<number> {
    return await this.write(`put ${key}`, () => this.inner.put(key, value, options));
  }

  async delete(key: string, options?: { readonly expectedVersion?: number }): Promise<void> {
    await this.write(`delete ${key}`, () => this.inner.delete(key, options));
  }

  private async write<T>(label: string, operation: () => Promise<T>): Promise<T> {
    this.check();
    this.writes.push(label);
    const here = this.cut?.at === this.writes.length;
    if (here && this.cut?.when === 'before') this.strike();
    const result = await operation();
    if (here) this.strike();
    return result;
  }

  private strike(): never {
    this.dead = true;
    throw new StateStoreError(`state write ${this.writes.length} cut (${this.writes.at(-1)})`);
  }

  private check(): void {
    if (this.dead) throw new StateStoreError('the state store is gone (cut earlier)');
  }
}
