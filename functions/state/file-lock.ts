import { createHash } from 'node:crypto';
import { mkdir, rmdir, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { StateStoreError } from './store.ts';

/** How long a writer waits for another writer of the same record before giving up. */
const LOCK_WAIT_MS = 10_000;
/** Pause between tries: a lock is held for one read and one rename, well under a millisecond to a few. */
const RETRY_MS = 5;
/** Where there are no abstract sockets: a lock directory older than this belongs to a writer that died. */
const STALE_LOCK_MS = 30_000;

/**
 * Runs `work` while holding a lock named `name` that excludes every other process of this machine, and that the
 * kernel frees when its holder dies, even by SIGKILL: on Linux an abstract Unix socket bound to the name
 * (unix(7): a second bind gets EADDRINUSE; the name disappears with the last socket). Elsewhere a lock
 * directory, taken over once it is STALE_LOCK_MS old. Abstract sockets are per network namespace: processes that
 * share a state directory must share one (one host, or one container); separate containers need separate
 * directories, or the DynamoDB store.
 * @throws StateStoreError when the lock cannot be had in LOCK_WAIT_MS.
 */
export async function withFileLock<T>(name: string, work: () => Promise<T>): Promise<T> {
  const release = process.platform === 'linux' ? await bindAbstract(name) : await makeLockDir(name);
  try {
    return await work();
  } finally {
    await release();
  }
}

async function bindAbstract(name: string): Promise<() => Promise<void>> {
  const address = `\0mailsift-state-${createHash('sha256').update(name).digest('hex').slice(0, 40)}`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    const server = createServer();
    try {
      await listen(server, address);
      server.unref();
      return () => new Promise((resolve) => server.close(() => resolve()));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
        throw new StateStoreError(`cannot lock state record ${name}: ${(error as Error).message}`);
      }
    }
    await waitOrGiveUp(name, deadline);
  }
}

function listen(server: Server, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: address, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function makeLockDir(name: string): Promise<() => Promise<void>> {
  const path = `${name}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      await mkdir(path);
      return () => rmdir(path).catch(() => undefined);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new StateStoreError(`cannot lock state record ${name}: ${(error as Error).message}`);
      }
      const age = await stat(path).then(
        (info) => Date.now() - info.mtimeMs,
        () => 0,
      );
      if (age > STALE_LOCK_MS) await rmdir(path).catch(() => undefined);
    }
    await waitOrGiveUp(name, deadline);
  }
}

async function waitOrGiveUp(name: string, deadline: number): Promise<void> {
  if (Date.now() >= deadline) {
    throw new StateStoreError(`state record ${name} stayed locked by another process for ${LOCK_WAIT_MS} ms`);
  }
  await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
}
