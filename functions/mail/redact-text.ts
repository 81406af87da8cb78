/** Same-size stand-ins for a character: as many UTF-8 bytes as it had. */
const STAND_INS = ['x', 'é', '中', '😀'] as const;

/** Where the kept words occur in `text` (case-insensitive), as flags per UTF-16 unit of the text as written. */
function keptUnits(text: string, words: readonly string[]): boolean[] {
  const kept = new Array<boolean>(text.length).fill(false);
  for (const word of words.filter((each) => each.length > 0)) {
    const pattern = new RegExp(word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'giu');
    for (const found of text.matchAll(pattern)) kept.fill(true, found.index, found.index + found[0].length);
  }
  return kept;
}

/**
 * Text with its letters and digits replaced by stand-ins of the same UTF-8 length, but for the kept words;
 * whitespace and punctuation stay. In HTML the tag and attribute names stay, attribute values and comments do not.
 */
export function redactText(text: string, words: readonly string[], html: boolean): string {
  const kept = keptUnits(text, words);
  const secret = /[\p{L}\p{N}]/u;
  let state: 'text' | 'tag' | 'value' | 'comment' = 'text';
  let quote = '';
  let offset = 0;
  let out = '';
  for (const char of text) {
    let keep = kept[offset] === true || !secret.test(char);
    if (html) {
      // Only `<` before a letter, `/` or `!` opens a tag: a bare `<` in the text keeps nothing after it.
      if (state === 'text' && char === '<' && /^<[A-Za-z/!]/.test(text.slice(offset, offset + 2))) {
        state = text.startsWith('<!--', offset) ? 'comment' : 'tag';
      } else if (state === 'comment' && char === '>' && text.slice(offset - 2, offset) === '--')
        state = 'text';
      else if (state === 'tag' && char === '>') state = 'text';
      else if (state === 'tag' && (char === '"' || char === "'")) [state, quote] = ['value', char];
      else if (state === 'value' && char === quote) state = 'tag';
      // An unquoted attribute value runs from `=` to white space or `>`.
      else if (state === 'tag' && char === '=' && !/["'\s]/.test(text[offset + 1] ?? ''))
        [state, quote] = ['value', ' '];
      else if (state === 'value' && quote === ' ' && /[\s>]/.test(char))
        state = char === '>' ? 'text' : 'tag';
      // Tag and attribute names say nothing private; what a tag holds in values and comments may.
      if (state === 'tag') keep = true;
    }
    out += keep ? char : (STAND_INS[Buffer.byteLength(char) - 1] ?? 'x');
    offset += char.length;
  }
  return out;
}

/**
 * Bytes of a part in a charset other than UTF-8, or of no charset: ASCII letters and digits replaced by `x`, every
 * byte above 0x7f by 0xbf, but for ASCII kept words. Each byte keeps its place and its kind, so the size stays, also
 * once quoted-printable encodes it again (a high byte is `=BF` as it was `=E9`).
 */
export function redactBytes(bytes: Buffer, words: readonly string[]): Buffer {
  const text = bytes.toString('latin1');
  const kept = keptUnits(
    text,
    words.filter((word) => /^[\x20-\x7e]+$/.test(word)),
  );
  const redacted = Array.from(text, (char, index) => {
    if (kept[index] || !/[A-Za-z0-9\x80-\xff]/.test(char)) return char;
    return char > '\x7f' ? '\xbf' : 'x';
  });
  return Buffer.from(redacted.join(''), 'latin1');
}
