import type { ParsedResponse } from './exec.ts';

/**
 * The highest MODSEQ the server reported for the selected mailbox since it was selected, from what mailsift's own
 * changes brought back: the FETCH (MODSEQ) a STORE answers for each message it changed (RFC 7162 §3.1.3), and
 * the [HIGHESTMODSEQ] code of a UID EXPUNGE or MOVE where QRESYNC is enabled (RFC 7162 §3.2; Dovecot sends it).
 * A STORE that changed nothing reports none, so this is a value the mailbox really reached, never a guess: a
 * mailbox found below it later went back (restored from a backup).
 */
export class ModseqSeen {
  private highest: bigint | undefined;

  get value(): bigint | undefined {
    return this.highest;
  }

  /** SELECT or EXAMINE of a mailbox: what was seen was of another. */
  reset(): void {
    this.highest = undefined;
  }

  /** An untagged `FETCH (… MODSEQ (n) …)`. */
  noteFetch(line: ParsedResponse): void {
    this.note(modseqIn(line.attributes));
  }

  /** A tagged or untagged `OK [HIGHESTMODSEQ n]`. */
  noteCode(line: ParsedResponse): void {
    const section = (line.attributes?.[0] as { section?: { value?: unknown }[] } | undefined)?.section;
    if (String(section?.[0]?.value ?? '').toUpperCase() === 'HIGHESTMODSEQ')
      this.note(number(section?.[1]?.value));
  }

  private note(value: bigint | undefined): void {
    if (value !== undefined && (this.highest === undefined || value > this.highest)) this.highest = value;
  }
}

/** The value after a `MODSEQ` atom, at any depth of a FETCH's attribute lists. */
function modseqIn(attributes: unknown): bigint | undefined {
  if (!Array.isArray(attributes)) return undefined;
  for (const [index, item] of attributes.entries()) {
    if (String((item as { value?: unknown })?.value ?? '').toUpperCase() === 'MODSEQ') {
      const next = attributes[index + 1];
      const found = number(Array.isArray(next) ? (next[0] as { value?: unknown })?.value : undefined);
      if (found !== undefined) return found;
    }
    const inner = modseqIn(item);
    if (inner !== undefined) return inner;
  }
  return undefined;
}

function number(value: unknown): bigint | undefined {
  return typeof value === 'string' && /^\d{1,20}$/.test(value) ? BigInt(value) : undefined;
}
