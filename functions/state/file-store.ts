import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { withFileLock } from './file-lock.ts';
import { checkDirectory, checkRecordFile, UnsafeStateError } from './file-permissions.ts';
import type { InspectableStore, RawRecord } from './inspect.ts';
import {
  checkExpectedVersion,
  isExpired,
  type PutOptions,
  type StateStore,
  StateStoreError,
  type StoredRecord,
} from './store.ts';

const RECORD_SUFFIX = '.json';
const TEMPORARY_SUFFIX = '.tmp';

/**
 * Expired files are deleted once they have been expired this long, as DynamoDB's TTL deletes items within a day
 * or two: until then a new record counts its version on from the expired one.
 */
const SWEEP_AFTER_MS = 24 * 60 * 60_000;

/** What a record file holds. */
interface RecordFile {
  readonly version: number;
  readonly expiresAt?: number;
  readonly value: unknown;
}

/**
 * Where the CLI keeps its state: `--state DIR`, else MAILSIFT_STATE, else `$XDG_STATE_HOME/mailsift`, else
 * `~/.local/state/mailsift` (the XDG Base Directory default for state).
 */
export function defaultStateDirectory(env: NodeJS.ProcessEnv, flag?: string): string {
  if (flag) return resolve(flag);
  if (env.MAILSIFT_STATE) return resolve(env.MAILSIFT_STATE);
  if (env.XDG_STATE_HOME) return join(resolve(env.XDG_STATE_HOME), 'mailsift');
  return join(homedir(), '.local', 'state', 'mailsift');
}

/**
 * A StateStore in a private directory (0700), one file per record (0600). Every write is atomic: a temporary
 * file, fsync, rename over the record, fsync of the directory, so a run killed at any moment leaves each record
 * either as it was or as it was written. Compare-and-set writes hold a per-record lock that the kernel frees
 * when the writer dies (see withFileLock).
 */
export class FileStateStore implements StateStore, InspectableStore {
  readonly description: string;
  private readonly root: string;
  private readonly now: () => number;
  private readonly madeDirectories = new Set<string>();

  /** Reads only: writes are refused and nothing is swept (a dry run leaves the directory as it found it). */
  private readonly readOnly: boolean;
  /** Trusts directories and records others can write (file-permissions.ts): the user said they know why. */
  private readonly insecure: boolean;
  private readonly checkedDirectories = new Set<string>();

  constructor(
    root: string,
    options: { readonly now?: () => number; readonly readOnly?: boolean; readonly insecure?: boolean } = {},
  ) {
    this.root = resolve(root);
    this.description = `directory ${this.root}`;
    this.now = options.now ?? Date.now;
    this.readOnly = options.readOnly ?? false;
    this.insecure = options.insecure ?? false;
  }

  async get<T>(key: string): Promise<StoredRecord<T> | undefined> {
    const stored = await this.read(key);
    return stored && !isExpired(stored, this.now()) ? toRecord<T>(key, stored) : undefined;
  }

  async put(key: string, value: unknown, options: PutOptions = {}): Promise<number> {
    this.refuseWrites(key);
    const write = async () => {
      const stored = await this.read(key);
      const live = stored && !isExpired(stored, this.now()) ? stored : undefined;
      checkExpectedVersion(key, live?.version ?? 0, options.expectedVersion);
      // Counting on from an expired record too: a reader holding its version cannot mistake the new one for it.
      const version = (stored?.version ?? 0) + 1;
      await this.writeAtomically(key, { version, expiresAt: options.expiresAt, value });
      return version;
    };
    return await this.locked(key, write);
  }

  async delete(key: string, options: { readonly expectedVersion?: number } = {}): Promise<void> {
    this.refuseWrites(key);
    const remove = async () => {
      if (options.expectedVersion !== undefined) {
        const stored = await this.read(key);
        const live = stored && !isExpired(stored, this.now()) ? stored : undefined;
        checkExpectedVersion(key, live?.version ?? 0, options.expectedVersion);
      }
      await unlink(this.pathOf(key)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw this.failure('delete', key, error);
      });
    };
    await this.locked(key, remove);
  }

  async list<T>(prefix: string): Promise<StoredRecord<T>[]> {
    const folder = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    const keys = (await this.keysUnder(folder)).filter((key) => key.startsWith(prefix)).sort();
    const records: StoredRecord<T>[] = [];
    for (const key of keys) {
      const stored = await this.read(key);
      if (stored && !isExpired(stored, this.now())) records.push(toRecord<T>(key, stored));
      else if (stored && isExpired(stored, this.now() - SWEEP_AFTER_MS)) await this.sweep(key);
    }
    return records;
  }

  async inspect(prefix: string): Promise<RawRecord[]> {
    const folder = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    const keys = (await this.keysUnder(folder)).filter((key) => key.startsWith(prefix)).sort();
    const found: RawRecord[] = [];
    for (const key of keys) {
      const where = this.pathOf(key);
      try {
        const stored = await this.read(key);
        if (stored && !isExpired(stored, this.now()))
          found.push({ key, where, record: toRecord(key, stored) });
      } catch (error) {
        if (!(error instanceof DamagedRecordError)) throw error;
        found.push({ key, where, unreadable: error.why });
      }
    }
    return found;
  }

  /** Renames the file to `….json.LABEL` beside it: no longer a record, still there to look at. */
  async setAside(key: string, label: string): Promise<string> {
    this.refuseWrites(key);
    const path = this.pathOf(key);
    const aside = `${path}.${label}`;
    await this.locked(key, async () => {
      await rename(path, aside);
      await syncDirectory(dirname(path));
    }).catch((error: unknown) => {
      throw this.failure('set aside', key, error);
    });
    return aside;
  }

  private refuseWrites(key: string): void {
    if (this.readOnly)
      throw new StateStoreError(`state record ${key} not written: ${this.root} is open for reading only`);
  }

  /** Deletes an expired record, unless someone wrote it anew meanwhile. */
  private async sweep(key: string): Promise<void> {
    if (this.readOnly) return;
    await this.locked(key, async () => {
      const stored = await this.read(key);
      if (stored && isExpired(stored, this.now() - SWEEP_AFTER_MS)) {
        await unlink(this.pathOf(key)).catch(() => undefined);
      }
    });
  }

  private locked<T>(key: string, work: () => Promise<T>): Promise<T> {
    return withFileLock(this.pathOf(key), work);
  }

  private pathOf(key: string): string {
    const segments = key.split('/');
    if (segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
      throw new StateStoreError(`invalid state key ${JSON.stringify(key)}`);
    }
    return `${join(this.root, ...segments)}${RECORD_SUFFIX}`;
  }

  private async read(key: string): Promise<RecordFile | undefined> {
    const path = this.pathOf(key);
    let text: string;
    try {
      await this.checkDirectories(dirname(path));
      // Opened once, then checked: the file read is the file whose owner and mode were looked at.
      const file = await open(path, 'r');
      try {
        if (!this.insecure) checkRecordFile(path, await file.stat());
        text = await file.readFile('utf8');
      } finally {
        await file.close();
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw this.failure('read', key, error);
    }
    try {
      const parsed = JSON.parse(text) as RecordFile;
      if (!Number.isInteger(parsed?.version)) throw new Error('no version');
      return parsed;
    } catch (error) {
      throw new DamagedRecordError(path, withoutContent((error as Error).message));
    }
  }

  /** The root and every directory down to `path`, checked once each (file-permissions.ts). */
  private async checkDirectories(path: string): Promise<void> {
    if (this.insecure) return;
    const relative = path.slice(this.root.length).split('/').filter(Boolean);
    let current = this.root;
    for (const part of ['', ...relative]) {
      current = part ? join(current, part) : current;
      if (this.checkedDirectories.has(current)) continue;
      // Below the root, lstat: a symlink in the state directory could lead anywhere.
      const stats = current === this.root ? await stat(current) : await lstat(current);
      if (stats.isSymbolicLink())
        throw new UnsafeStateError(current, 'is a symbolic link', 'make it a directory');
      checkDirectory(current, stats);
      this.checkedDirectories.add(current);
    }
  }

  private async writeAtomically(key: string, content: RecordFile): Promise<void> {
    const path = this.pathOf(key);
    const temporary = `${path}.${randomBytes(6).toString('hex')}${TEMPORARY_SUFFIX}`;
    try {
      await this.makeDirectory(dirname(path));
      const file = await open(temporary, 'wx', 0o600);
      try {
        await file.writeFile(JSON.stringify(content));
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temporary, path);
      await syncDirectory(dirname(path));
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw this.failure('write', key, error);
    }
  }

  /**
   * Creates the missing directories down to `path`, each 0700 (chmod too: mkdir's mode is narrowed by the umask
   * only). A directory that exists already is left as it is: `--state ~` must not change the home directory.
   */
  private async makeDirectory(path: string): Promise<void> {
    if (this.madeDirectories.has(path)) return;
    const relative = path.slice(this.root.length).split('/').filter(Boolean);
    let current = this.root;
    for (const part of ['', ...relative]) {
      current = part ? join(current, part) : current;
      if (this.madeDirectories.has(current)) continue;
      const created = await mkdir(current, { recursive: true, mode: 0o700 });
      if (created !== undefined) await chmod(current, 0o700);
      this.madeDirectories.add(current);
    }
  }

  private async keysUnder(folder: string): Promise<string[]> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(join(this.root, ...folder.split('/').filter(Boolean)), { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw this.failure('list', folder, error);
    }
    const keys: string[] = [];
    for (const entry of entries) {
      if (entry.isDirectory()) keys.push(...(await this.keysUnder(`${folder}${entry.name}/`)));
      else if (entry.name.endsWith(RECORD_SUFFIX))
        keys.push(`${folder}${entry.name.slice(0, -RECORD_SUFFIX.length)}`);
      else if (entry.name.endsWith(TEMPORARY_SUFFIX)) await this.removeStaleTemporary(folder, entry.name);
    }
    return keys;
  }

  /** A temporary file a writer killed between open and rename left behind; never one still being written. */
  private async removeStaleTemporary(folder: string, name: string): Promise<void> {
    if (this.readOnly) return;
    const path = join(this.root, ...folder.split('/').filter(Boolean), name);
    const age = await stat(path).then(
      (info) => Date.now() - info.mtimeMs,
      () => 0,
    );
    if (age > SWEEP_AFTER_MS) await unlink(path).catch(() => undefined);
  }

  private failure(what: string, key: string, error: unknown): StateStoreError {
    if (error instanceof StateStoreError) return error;
    return new StateStoreError(
      `cannot ${what} state record ${key} in ${this.root}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * JSON.parse's words without the piece of the file it quotes (Node 20: `Unexpected token 'x', "1//0gSECRE"... is
 * not valid JSON`): the file may be a token record, and these words are printed.
 */
function withoutContent(message: string): string {
  const position = /position (\d+)/.exec(message)?.[1];
  if (message === 'no version') return message;
  return `not JSON${position === undefined ? '' : ` (at position ${position})`}`;
}

/** A record file that is no record: a run stops at it; `mailsift state repair` sets it aside. */
export class DamagedRecordError extends StateStoreError {
  readonly why: string;
  constructor(path: string, why: string) {
    super(
      `state file ${path} is not a mailsift record (${why}); ` +
        '`mailsift state repair` moves it aside (the next run starts that record afresh)',
    );
    this.why = why;
  }
}

function toRecord<T>(key: string, stored: RecordFile): StoredRecord<T> {
  return {
    key,
    value: stored.value as T,
    version: stored.version,
    ...(stored.expiresAt === undefined ? {} : { expiresAt: stored.expiresAt }),
  };
}

/** fsync of a directory makes a rename in it durable (rename(2) alone may be lost in a power cut). */
async function syncDirectory(path: string): Promise<void> {
  const directory = await open(path, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}
