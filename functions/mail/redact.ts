import { decodedBody, decodedText, type MimeNode, parseMime, withCrlf } from './mime-tree.ts';

/** What redaction keeps: what rules match on, so that a redacted fixture still tests them. */
export interface RedactionKeeps {
  /** Addresses (or parts of them) the rules' from, to and cc name: an address holding one keeps its local part. */
  readonly addresses: readonly string[];
  /** Words the rules' body and text keys search for: kept where they occur in the text. */
  readonly words: readonly string[];
}

const ADDRESS_HEADERS =
  /^(from|to|cc|bcc|reply-to|sender|return-path|delivered-to|x-original-to|resent-\w+):/i;

/**
 * A message made safe to commit as a fixture: every text part's letters and digits replaced, but for the words the
 * rules search for; other parts' bytes replaced; the local parts of addresses replaced, but for addresses the rules
 * name. Each replacement has the length in bytes of what it replaces, and the encodings, the MIME structure, the
 * header names and every other header stay: the size changes by less than 1%, the match keys see the same shape.
 */
export function redactMessage(raw: Buffer, keeps: RedactionKeeps): Buffer {
  const message = withCrlf(raw);
  const edits: { start: number; end: number; bytes: Buffer }[] = [];
  const offsetOf = (slice: Buffer) => slice.byteOffset - message.byteOffset;
  const walk = (node: MimeNode) => {
    edits.push({
      start: offsetOf(node.header),
      end: offsetOf(node.header) + node.header.length,
      bytes: redactHeader(node.header, keeps),
    });
    if (node.parts) for (const part of node.parts) walk(part);
    else if (node.message) walk(node.message);
    else
      edits.push({
        start: offsetOf(node.body),
        end: offsetOf(node.body) + node.body.length,
        bytes: redactBody(node, keeps),
      });
  };
  walk(parseMime(message));
  const pieces: Buffer[] = [];
  let at = 0;
  for (const edit of edits.sort((a, b) => a.start - b.start)) {
    if (edit.start < at) continue; // a part inside one already replaced
    pieces.push(message.subarray(at, edit.start), edit.bytes);
    at = edit.end;
  }
  pieces.push(message.subarray(at));
  return Buffer.concat(pieces);
}

function redactHeader(header: Buffer, keeps: RedactionKeeps): Buffer {
  const lines = header.toString('latin1').split('\r\n');
  let inAddressField = false;
  const redacted = lines.map((line) => {
    if (!/^[ \t]/.test(line)) inAddressField = ADDRESS_HEADERS.test(line);
    if (!inAddressField) return line;
    return line.replace(/([^\s<>"(),:;@]+)@([^\s<>"(),;]+)/g, (address, local: string, domain: string) =>
      keeps.addresses.some((kept) => address.toLowerCase().includes(kept.toLowerCase()))
        ? address
        : `${'x'.repeat(local.length)}@${domain}`,
    );
  });
  return Buffer.from(redacted.join('\r\n'), 'latin1');
}

/** Same-size stand-ins for a character: as many UTF-8 bytes as it had. */
const STAND_INS = ['x', 'é', '中', '😀'] as const;

/** Letters and digits replaced (outside the kept words, and outside HTML tags), whitespace and punctuation kept. */
export function redactText(text: string, words: readonly string[], html: boolean, bytesPerChar?: 1): string {
  const kept = new Array<boolean>(text.length).fill(false);
  const folded = text.toLowerCase();
  for (const word of words.filter((each) => each.length > 0)) {
    for (
      let at = folded.indexOf(word.toLowerCase());
      at >= 0;
      at = folded.indexOf(word.toLowerCase(), at + 1)
    ) {
      kept.fill(true, at, at + word.length);
    }
  }
  let inTag = false;
  let offset = 0;
  let out = '';
  for (const char of text) {
    if (html && char === '<') inTag = true;
    const keep = inTag || kept[offset] || !/[\p{L}\p{N}]/u.test(char);
    if (html && char === '>') inTag = false;
    out += keep ? char : bytesPerChar === 1 ? 'x' : (STAND_INS[Buffer.byteLength(char) - 1] ?? 'x');
    offset += char.length;
  }
  return out;
}

function redactBody(node: MimeNode, keeps: RedactionKeeps): Buffer {
  const charset = (node.parameters.charset ?? 'utf-8').toLowerCase();
  const text = node.type.startsWith('text/');
  const utf8 = charset === 'utf-8' || charset === 'utf8' || charset === 'us-ascii';
  const decoded = text
    ? Buffer.from(
        redactText(decodedText(node), keeps.words, node.type === 'text/html', utf8 ? undefined : 1),
        utf8 ? 'utf8' : 'latin1',
      )
    : Buffer.alloc(decodedBody(node).length, 'x');
  if (node.encoding === 'base64') return Buffer.from(lines(decoded.toString('base64'), 76).join('\r\n'));
  if (node.encoding === 'quoted-printable') return Buffer.from(quotedPrintable(decoded), 'latin1');
  return decoded;
}

function lines(text: string, width: number): string[] {
  return text.match(new RegExp(`.{1,${width}}`, 'g')) ?? [''];
}

function quotedPrintable(bytes: Buffer): string {
  const out: string[] = [];
  let line = '';
  for (let index = 0; index < bytes.length; index++) {
    const byte = bytes[index] as number;
    if (byte === 0x0d && bytes[index + 1] === 0x0a) {
      out.push(line);
      line = '';
      index++;
      continue;
    }
    const piece =
      (byte >= 33 && byte <= 126 && byte !== 61) || byte === 32
        ? String.fromCharCode(byte)
        : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    if (line.length + piece.length > 75) {
      out.push(`${line}=`);
      line = '';
    }
    line += piece;
  }
  out.push(line);
  return out.map((each) => each.replace(/ $/, '=20')).join('\r\n');
}
