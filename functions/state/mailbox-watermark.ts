/**
 * How far a mailbox had come when a record about its UIDs was written: UIDNEXT and, with CONDSTORE, HIGHESTMODSEQ.
 * Neither ever goes down while UIDVALIDITY stays (RFC 3501 §2.3.1.1, RFC 7162 §3.1.2.1), except when the mailbox
 * is put back from a backup (or migrated keeping UIDVALIDITY): then UIDs above the restored UIDNEXT are given
 * again to new mail, and a record about them names other messages.
 */
export interface Watermark {
  readonly uidNext: number;
  readonly highestModseq?: bigint;
}

/** As records keep it: JSON has no bigint. */
export interface StoredWatermark {
  readonly uidNext: number;
  readonly highestModseq?: string;
}

export function storedWatermark(mark: Watermark): StoredWatermark {
  return {
    uidNext: mark.uidNext,
    ...(mark.highestModseq === undefined ? {} : { highestModseq: mark.highestModseq.toString() }),
  };
}

/** The stored form read back; undefined when it is not one (an older record without it, or damaged). */
export function readWatermark(value: unknown): Watermark | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const { uidNext, highestModseq } = value as Partial<StoredWatermark>;
  if (!Number.isSafeInteger(uidNext) || (uidNext as number) < 1) return undefined;
  if (highestModseq !== undefined && (typeof highestModseq !== 'string' || !/^\d{1,20}$/.test(highestModseq)))
    return undefined;
  return {
    uidNext: uidNext as number,
    ...(highestModseq === undefined ? {} : { highestModseq: BigInt(highestModseq) }),
  };
}

/**
 * Why the mailbox, now at `current`, went back from `recorded` (same UIDVALIDITY), in the words the summary
 * uses (`HIGHESTMODSEQ 120 < 5400`); undefined when it did not.
 */
export function wentBack(recorded: Watermark, current: Watermark): string | undefined {
  const { highestModseq: before } = recorded;
  const { highestModseq: now } = current;
  if (before !== undefined && now !== undefined && now < before) return `HIGHESTMODSEQ ${now} < ${before}`;
  if (current.uidNext < recorded.uidNext) return `UIDNEXT ${current.uidNext} < ${recorded.uidNext}`;
  return undefined;
}

/**
 * The highest of `uids`, where it is at or past `uidNext`: a UID the mailbox gave out once and now says is still to
 * come, so it went back (RFC 3501 §2.3.1.1: UIDNEXT never goes down under one UIDVALIDITY). Undefined otherwise.
 */
export function uidPastUidNext(uids: readonly number[], uidNext: number): number | undefined {
  let highest = 0;
  for (const uid of uids) if (uid > highest) highest = uid;
  return highest >= uidNext ? highest : undefined;
}
