/**
 * Longest UID set we put on one command line. RFC 7162 §4 asks clients to keep command lines to about
 * 8192 octets, and some servers refuse far less than 64 KB; this leaves room for the command, a
 * mailbox name and a flag list.
 */
export const MAX_UID_SET_LENGTH = 6000;

/** Sorted, de-duplicated copy of `uids`. */
export function sortUids(uids: Iterable<number>): number[] {
  return [...new Set(uids)].sort((a, b) => a - b);
}

/** `[1,2,3,7,9,10]` → `['1:3', '7', '9:10']` (RFC 3501 §9 sequence-set ranges). */
export function toRanges(uids: Iterable<number>): string[] {
  const sorted = sortUids(uids);
  const ranges: string[] = [];
  let start = sorted[0];
  let end = start;
  for (const uid of sorted.slice(1)) {
    if (end !== undefined && uid === end + 1) {
      end = uid;
      continue;
    }
    if (start !== undefined) ranges.push(start === end ? `${start}` : `${start}:${end}`);
    start = uid;
    end = uid;
  }
  if (start !== undefined) ranges.push(start === end ? `${start}` : `${start}:${end}`);
  return ranges;
}

/** UID set strings, each at most `maxLength` characters, that together cover exactly `uids`. */
export function chunkUidSet(uids: Iterable<number>, maxLength = MAX_UID_SET_LENGTH): string[] {
  const chunks: string[] = [];
  let current = '';
  for (const range of toRanges(uids)) {
    if (current && current.length + 1 + range.length > maxLength) {
      chunks.push(current);
      current = '';
    }
    current = current ? `${current},${range}` : range;
  }
  if (current) chunks.push(current);
  return chunks;
}

/** UIDs in chunks of the same sizes as `chunkUidSet` would make, for commands that need arrays. */
export function chunkUids(uids: Iterable<number>, maxLength = MAX_UID_SET_LENGTH): number[][] {
  return chunkUidSet(uids, maxLength).map(expandUidSet);
}

/** `'1:3,7'` → `[1,2,3,7]`. */
export function expandUidSet(set: string): number[] {
  return expandUidSetAtMost(set, Number.POSITIVE_INFINITY) ?? [];
}

/**
 * As `expandUidSet`, or undefined when the set holds more than `maxCount` UIDs: a server's `1:4294967295`
 * must not make us allocate four billion numbers.
 */
export function expandUidSetAtMost(set: string, maxCount: number): number[] | undefined {
  const out: number[] = [];
  for (const part of set.split(',')) {
    if (part.trim() === '') continue;
    const [from, to] = part.split(':').map(Number);
    if (from === undefined || Number.isNaN(from)) continue;
    const [low, high] =
      to === undefined || Number.isNaN(to) ? [from, from] : [Math.min(from, to), Math.max(from, to)];
    if (out.length + (high - low + 1) > maxCount) return undefined;
    for (let uid = low; uid <= high; uid++) out.push(uid);
  }
  return out;
}
