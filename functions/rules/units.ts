const DURATION_UNITS_MS = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const SIZE_UNITS_BYTES = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 } as const;

export const DURATION_PATTERN = /^(\d{1,6})(m|h|d|w)$/;
export const SIZE_PATTERN = /^(\d{1,9})\s*(B|KB|MB|GB)?$/i;
export const ISO_DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

/** Milliseconds in a duration such as `90m`, `12h`, `30d` or `8w`. @throws on a malformed value. */
export function parseDuration(text: string): number {
  const match = DURATION_PATTERN.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  return Number(match[1]) * DURATION_UNITS_MS[match[2] as keyof typeof DURATION_UNITS_MS];
}

/** Bytes in a size such as `500KB` or `5MB` (binary units, as mail clients show them); numbers are bytes. */
export function parseSize(value: string | number): number {
  if (typeof value === 'number') return value;
  const match = SIZE_PATTERN.exec(value.trim());
  if (!match) throw new Error(`not a size: ${value}`);
  const unit = (match[2] ?? 'B').toUpperCase() as keyof typeof SIZE_UNITS_BYTES;
  return Number(match[1]) * SIZE_UNITS_BYTES[unit];
}

/** True for a real calendar day written as YYYY-MM-DD. */
export function isIsoDate(text: string): boolean {
  if (!ISO_DATE_PATTERN.test(text)) return false;
  const date = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(text);
}

/**
 * A user regex: `/pattern/flags` keeps its flags; a bare pattern is case-insensitive, like IMAP SEARCH.
 * @throws SyntaxError when the pattern does not compile.
 */
export function compileUserRegex(source: string): RegExp {
  const literal = /^\/(.*)\/([dgimsuvy]*)$/s.exec(source);
  if (literal) return new RegExp(literal[1] ?? '', (literal[2] ?? '').replace(/[gy]/g, ''));
  return new RegExp(source, 'i');
}
