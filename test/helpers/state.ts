import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStateStore } from '../../functions/state/file-store.ts';

/** A real file state store in a fresh private directory, for the runs of one test file. */
export function testState(): FileStateStore {
  return new FileStateStore(mkdtempSync(join(tmpdir(), 'mailsift-state-')));
}
