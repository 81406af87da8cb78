import { decodedBody, decodedText, type MimeNode, parseMime, withCrlf } from './mime-tree.ts';
import { redactBytes, redactText } from './redact-text.ts';

/** What redaction keeps: what rules match on, so that a redacted fixture still tests them. */
export interface RedactionKeeps {
  /** Addresses (or parts of them) the rules' from, to and cc name: an address holding one keeps its local part. */
  readonly addresses: readonly string[];
  /** Words the rules' subject, body and text keys search for: kept where they occur in the text. */
  readonly words: readonly string[];
  /** Header names (lower case) the rules' header and headerMatches keys name: those fields stay as written. */
  readonly headers?: readonly string[];
}

interface Edit {
  readonly start: number;
  readonly end: number;
  readonly bytes: Buffer;
}

/**
 * A message made safe to commit as a fixture: every text part's letters and digits replaced, but for the words the
 * rules search for; other parts' bytes, a multipart's preamble and epilogue, and a multipart whose parts cannot be
 * found replaced; the local part of every address in the header replaced, but for addresses the rules name and the
 * header fields they match on. Each replacement has the length in bytes of what it replaces, and the encodings, the
 * MIME structure and the header fields stay: the size changes by less than 1%, the match keys see the same shape.
 */
export function redactMessage(raw: Buffer, keeps: RedactionKeeps): Buffer {
  const message = withCrlf(raw);
  const edits: Edit[] = [];
  const range = (slice: Buffer) => {
    const start = slice.byteOffset - message.byteOffset;
    return { start, end: start + slice.length };
  };
  const walk = (node: MimeNode) => {
    edits.push({ ...range(node.header), bytes: redactHeader(node.header, keeps) });
    if (node.parts && node.parts.length > 0) {
      edits.push(...gapsOf(node, range));
      for (const part of node.parts) walk(part);
    } else if (node.message) walk(node.message);
    else if (node.type.startsWith('multipart/'))
      edits.push({ ...range(node.body), bytes: redactBytes(node.body, []) });
    else edits.push({ ...range(node.body), bytes: redactBody(node, keeps) });
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

/** A multipart's text outside its parts (preamble, epilogue), redacted; its boundary lines kept. */
function gapsOf(node: MimeNode, range: (slice: Buffer) => { start: number; end: number }): Edit[] {
  const body = range(node.body);
  const covered = (node.parts ?? []).map((part) => ({
    start: range(part.header).start,
    end: range(part.body).end,
  }));
  const edits: Edit[] = [];
  let at = body.start;
  for (const span of [...covered, { start: body.end, end: body.end }]) {
    if (span.start > at) {
      const gap = node.body.subarray(at - body.start, span.start - body.start);
      const delimiter = `--${node.parameters.boundary ?? ''}`;
      const text = gap
        .toString('latin1')
        .split('\r\n')
        .map((line) =>
          isDelimiter(line, delimiter)
            ? line
            : redactBytes(Buffer.from(line, 'latin1'), []).toString('latin1'),
        )
        .join('\r\n');
      edits.push({ start: at, end: span.start, bytes: Buffer.from(text, 'latin1') });
    }
    at = Math.max(at, span.end);
  }
  return edits;
}

const ADDRESS = /("[^"\r\n]*"|[^\s<>"(),:;@[\]]+)@([^\s<>"(),;[\]]+)/g;

/** The local part of every address replaced (same length), but in fields the rules match on and kept addresses. */
function redactHeader(header: Buffer, keeps: RedactionKeeps): Buffer {
  const kept = new Set((keeps.headers ?? []).map((name) => name.toLowerCase()));
  let keepField = false;
  const lines = header
    .toString('latin1')
    .split('\r\n')
    .map((line) => {
      if (!/^[ \t]/.test(line))
        keepField = kept.has(
          line
            .slice(0, Math.max(0, line.indexOf(':')))
            .trim()
            .toLowerCase(),
        );
      if (keepField) return line;
      return line.replace(ADDRESS, (address, local: string, domain: string) =>
        keeps.addresses.some((each) => address.toLowerCase().includes(each.toLowerCase()))
          ? address
          : `${'x'.repeat(local.length)}@${domain}`,
      );
    });
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

function redactBody(node: MimeNode, keeps: RedactionKeeps): Buffer {
  const charset = (node.parameters.charset ?? 'us-ascii').toLowerCase();
  const utf8 = ['utf-8', 'utf8', 'us-ascii'].includes(charset);
  // Text in UTF-8 character by character; any other charset, and other parts, byte by byte (each keeps its size).
  const decoded =
    node.type.startsWith('text/') && utf8
      ? Buffer.from(redactText(decodedText(node), keeps.words, node.type === 'text/html'), 'utf8')
      : redactBytes(decodedBody(node), node.type.startsWith('text/') ? keeps.words : []);
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

/** A boundary line as the parser reads it: the delimiter, `--` to close, then only white space (RFC 2046 §5.1.1). */
function isDelimiter(line: string, delimiter: string): boolean {
  return line.startsWith(delimiter) && /^(--)?[ \t]*$/.test(line.slice(delimiter.length));
}
