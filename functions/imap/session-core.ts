import type { ImapFlow } from 'imapflow';
import type { SavedResult } from './saved-result.ts';
import type { ServerProfile } from './server-profile.ts';
import type { WireRecord } from './wire-record.ts';

/** What the command modules share: the imapflow client, the server's profile, the wire record and `$`. */
export interface SessionCore {
  readonly client: ImapFlow;
  readonly profile: ServerProfile;
  readonly wire: WireRecord;
  readonly saved: SavedResult;
}
