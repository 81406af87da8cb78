import type { Stats } from 'node:fs';
import { StateStoreError } from './store.ts';

/** Set to `1` by a user who knows why their state directory is shared (a group-managed service account, say). */
export const INSECURE_STATE_ENV = 'MAILSIFT_STATE_INSECURE';

/**
 * A state directory or record mailsift must not trust: it keeps refresh tokens there, and believes what the
 * records say (which mail was posted, copied, expunged), so a directory others can write, or a record others
 * can read or write or that someone else owns, is refused, as ssh refuses a private key with loose permissions.
 */
export class UnsafeStateError extends StateStoreError {
  readonly path: string;
  constructor(path: string, problem: string, fix: string) {
    super(
      `${path} ${problem}: mailsift keeps sign-in tokens in its state and trusts what the records say, so it ` +
        `refuses it; ${fix} (or set ${INSECURE_STATE_ENV}=1 if you know why it is so)`,
    );
    this.path = path;
  }
}

const mode = (stats: Stats) => `mode ${(stats.mode & 0o777).toString(8).padStart(4, '0')}`;

/** @throws UnsafeStateError where a directory of the state is another user's or writable by group or others. */
export function checkDirectory(path: string, stats: Stats): void {
  checkOwner(`state directory ${path}`, stats, `chown -R ${process.geteuid?.()} ${path}`);
  if (stats.mode & 0o022) {
    throw new UnsafeStateError(
      `state directory ${path}`,
      `is writable by group or others (${mode(stats)})`,
      `chmod go-w ${path}`,
    );
  }
}

/** @throws UnsafeStateError where a record file is another user's or open to group or others at all. */
export function checkRecordFile(path: string, stats: Stats): void {
  checkOwner(`state record ${path}`, stats, `chown ${process.geteuid?.()} ${path}`);
  if (stats.mode & 0o077) {
    throw new UnsafeStateError(
      `state record ${path}`,
      `can be read or written by group or others (${mode(stats)})`,
      `chmod 600 ${path}`,
    );
  }
}

/** Where there are user ids (not on Windows): the file or directory must be this process's user's. */
function checkOwner(what: string, stats: Stats, fix: string): void {
  const me = process.geteuid?.();
  if (me !== undefined && stats.uid !== me)
    throw new UnsafeStateError(what, `is owned by another user (uid ${stats.uid}, not ${me})`, fix);
}
