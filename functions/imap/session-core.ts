import type { ImapFlow } from 'imapflow';
import type { ModseqSeen } from './modseq-seen.ts';
import type { SavedResult } from './saved-result.ts';
import type { ServerProfile } from './server-profile.ts';
import type { WireRecord } from './wire-record.ts';

/** What the command modules share: the imapflow client, the server's profile, the wire record, `$`, MODSEQs seen. */
export interface SessionCore {
  readonly client: ImapFlow;
  readonly profile: ServerProfile;
  readonly wire: WireRecord;
  readonly saved: SavedResult;
  /** What the selected mailbox's HIGHESTMODSEQ reached by our own changes (modseq-seen.ts). */
  readonly modseqSeen: ModseqSeen;
}
