import { chunkUidSet, chunkUids } from './uid-set.ts';

/**
 * The UIDs of the last SEARCH saved on the server as `$` (RFC 5182 SEARCHRES), while `$` still names exactly
 * them: forgotten when another mailbox is selected (SELECT and EXAMINE reset `$`, RFC 5182 §2.1) and once
 * messages left the mailbox (moved or expunged).
 */
export class SavedResult {
  private uids: readonly number[] | undefined;

  /** `maxLength`: the longest UID set one command line may carry on this server. */
  constructor(private readonly maxLength: number) {}

  remember(uids: readonly number[]): void {
    this.uids = uids;
  }

  forget(): void {
    this.uids = undefined;
  }

  /** Whether `uids` are exactly the saved result, so that `$` names them. */
  names(uids: readonly number[]): boolean {
    const saved = this.uids;
    return saved !== undefined && saved.length === uids.length && saved.every((uid, i) => uid === uids[i]);
  }

  /** The UID sets to send for `uids`: `$` when it names exactly them, else ranges chunked by line length. */
  uidSets(uids: readonly number[]): string[] {
    return this.names(uids) ? ['$'] : chunkUidSet(uids, this.maxLength);
  }

  /** `uids` in the chunks their UID sets take on the wire: all at once when `$` names them. */
  chunksOf(uids: readonly number[]): (readonly number[])[] {
    return this.names(uids) ? [uids] : chunkUids(uids, this.maxLength);
  }
}
