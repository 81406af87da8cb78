import { decodeWords } from './mime-tree.ts';

/** One address of an address list, as imapflow gives ENVELOPE addresses: name decoded, `local@domain`. */
export interface Address {
  readonly name: string;
  readonly address: string;
}

/**
 * The addresses of an address-list header (RFC 5322 §3.4): `Name <a@b>`, `"Quoted, Name" <a@b>`, `a@b (Comment)`,
 * groups `team: a@b, c@d;` (their members listed, the group's name not). Lenient, as servers are: what it cannot
 * read as an address it gives as a name.
 */
export function parseAddressList(value: string): Address[] {
  return splitTopLevel(value, ',').flatMap((entry) => {
    const group = topLevelIndex(entry, ':');
    const angle = topLevelIndex(entry, '<');
    if (group >= 0 && (angle < 0 || group < angle)) {
      const members = entry.slice(group + 1).replace(/;\s*$/, '');
      return members.trim() === '' ? [] : parseAddressList(members);
    }
    const one = parseAddress(entry.replace(/;\s*$/, ''));
    return one.name || one.address ? [one] : [];
  });
}

function parseAddress(entry: string): Address {
  const open = topLevelIndex(entry, '<');
  if (open >= 0) {
    const close = entry.indexOf('>', open);
    const address = entry.slice(open + 1, close < 0 ? undefined : close).trim();
    return { name: phrase(entry.slice(0, open)), address: address.replace(/^@[^:]*:/, '') };
  }
  const comment = /\(([^)]*)\)/.exec(entry)?.[1];
  const address = entry.replace(/\([^)]*\)/g, '').trim();
  if (!address.includes('@')) return { name: phrase(address), address: '' };
  return { name: comment === undefined ? '' : phrase(comment), address };
}

/** A display name: quotes and their escapes undone, comments dropped, encoded words decoded (RFC 2047 §5). */
function phrase(text: string): string {
  const unquoted = text
    .replace(/\([^)]*\)/g, ' ')
    .replace(/"((?:[^"\\]|\\.)*)"/g, (_, inner: string) => inner.replace(/\\(.)/g, '$1'))
    .replace(/\s+/g, ' ')
    .trim();
  return decodeWords(unquoted);
}

/** Splits on `separator` outside quotes, comments and angle brackets. */
function splitTopLevel(text: string, separator: string): string[] {
  const pieces: string[] = [];
  let start = 0;
  scan(text, (index, char) => {
    if (char === separator) {
      pieces.push(text.slice(start, index));
      start = index + 1;
    }
  });
  pieces.push(text.slice(start));
  return pieces.filter((piece) => piece.trim() !== '');
}

function topLevelIndex(text: string, wanted: string): number {
  let found = -1;
  scan(text, (index, char) => {
    if (char === wanted && found < 0) found = index;
  });
  return found;
}

/** Calls `visit` for each character outside quoted strings, comments and (but for `<` itself) angle brackets. */
function scan(text: string, visit: (index: number, char: string) => void): void {
  let quoted = false;
  let comment = 0;
  let angle = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index] as string;
    if (char === '\\' && (quoted || comment > 0)) index++;
    else if (quoted) quoted = char !== '"';
    else if (comment > 0) comment += char === '(' ? 1 : char === ')' ? -1 : 0;
    else if (char === '"') quoted = true;
    else if (char === '(') comment = 1;
    else if (angle) angle = char !== '>';
    else {
      if (char === '<') angle = true;
      visit(index, char);
    }
  }
}
