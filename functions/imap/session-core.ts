import type { ImapFlow } from 'imapflow';
import type { SavedResult } from './saved-result.ts';
import type { WireRecord } from './wire-record.ts';

/** What the command modules share: the imapflow client, the wire record and the saved `$` result. */
export interface SessionCore {
  readonly client: ImapFlow;
  readonly wire: WireRecord;
  readonly saved: SavedResult;
}
