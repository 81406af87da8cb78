import libmime from 'libmime';
import { unfoldHeaders } from './mime.ts';

/** One MIME entity of a message file: its header, its type, and its body or its parts (RFC 2045, RFC 2046). */
export interface MimeNode {
  /** The header block as written, without the blank line after it. */
  readonly header: Buffer;
  /** Header fields by lower-case name, unfolded, not decoded. */
  readonly fields: ReadonlyMap<string, readonly string[]>;
  /** `type/subtype`, lower case; `text/plain` where none is given (RFC 2045 §5.2). */
  readonly type: string;
  readonly parameters: Readonly<Record<string, string>>;
  readonly disposition?: string;
  readonly dispositionParameters?: Readonly<Record<string, string>>;
  /** Content-Transfer-Encoding, lower case; `7bit` where none is given. */
  readonly encoding: string;
  /** The body as written (still transfer-encoded); a multipart's whole body. */
  readonly body: Buffer;
  /** A multipart's parts, in order. */
  readonly parts?: readonly MimeNode[];
  /** A message/rfc822 part's message. */
  readonly message?: MimeNode;
}

const CRLF_CRLF = Buffer.from('\r\n\r\n');
const MAX_DEPTH = 40;

/** Line ends as IMAP counts them (RFC 3501 §2.3.4: RFC822.SIZE is of the message with CRLF): a lone LF or CR becomes CRLF. */
export function withCrlf(raw: Buffer): Buffer {
  const text = raw.toString('latin1');
  if (!/\r(?!\n)|(?<!\r)\n/.test(text)) return raw;
  return Buffer.from(text.replace(/\r\n|\r|\n/g, '\r\n'), 'latin1');
}

/** Parses a message (CRLF line ends, as `withCrlf` gives) into its MIME tree; never throws on malformed input. */
export function parseMime(raw: Buffer, defaultType = 'text/plain', depth = 0): MimeNode {
  const split = raw.subarray(0, 2).toString() === '\r\n' ? 0 : raw.indexOf(CRLF_CRLF);
  const header = split < 0 ? raw : raw.subarray(0, split);
  const body = split < 0 ? Buffer.alloc(0) : raw.subarray(split + (split === 0 ? 2 : 4));
  const fields = fieldsOf(header);
  const contentType = parsedField(fields, 'content-type');
  const declared = contentType?.value.toLowerCase() ?? '';
  const type = /^[\w.+-]+\/[\w.+-]+$/.test(declared) ? declared : defaultType;
  const disposition = parsedField(fields, 'content-disposition');
  const node = {
    header,
    fields,
    type,
    parameters: contentType?.params ?? {},
    ...(disposition ? { disposition: disposition.value.toLowerCase() } : {}),
    ...(disposition ? { dispositionParameters: disposition.params } : {}),
    encoding: (fields.get('content-transfer-encoding')?.[0] ?? '7bit').trim().toLowerCase(),
    body,
  };
  const boundary = node.parameters.boundary;
  // Deeper than any real message nests: what is below is taken as one opaque part, not followed (a hostile message
  // of thousands of nested parts would otherwise exhaust the stack).
  if (depth >= MAX_DEPTH) return node;
  if (type.startsWith('multipart/') && boundary) {
    const childType = type === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
    return {
      ...node,
      parts: splitParts(body, boundary).map((part) => parseMime(part, childType, depth + 1)),
    };
  }
  // An attached message is parsed where it is written as it is (RFC 2046 §5.2.1); one in base64 or
  // quoted-printable (message/global may be, RFC 6532) is one opaque part.
  const plain = ['7bit', '8bit', 'binary'].includes(node.encoding);
  if ((type === 'message/rfc822' || type === 'message/global') && plain) {
    return { ...node, message: parseMime(body, 'text/plain', depth + 1) };
  }
  return node;
}

function fieldsOf(header: Buffer): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const line of unfoldHeaders(header.toString('latin1')).split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    // Header bytes are UTF-8 where they are not ASCII (RFC 6532); encoded words are decoded where used.
    const value = Buffer.from(line.slice(colon + 1).trim(), 'latin1').toString('utf8');
    fields.set(name, [...(fields.get(name) ?? []), value]);
  }
  return fields;
}

/** A structured field's value and parameters (RFC 2231 continuations and charsets, RFC 2047 words decoded). */
function parsedField(fields: ReadonlyMap<string, readonly string[]>, name: string) {
  const value = fields.get(name)?.[0];
  if (value === undefined) return undefined;
  const parsed = libmime.parseHeaderValue(value);
  const params: Record<string, string> = {};
  for (const [key, each] of Object.entries(parsed.params)) params[key.toLowerCase()] = decodeWords(each);
  return { value: parsed.value.trim(), params };
}

export function decodeWords(value: string): string {
  try {
    return libmime.decodeWords(value);
  } catch {
    return value; // a broken encoded word stays as written
  }
}

/** The parts between `--boundary` lines; the CRLF before a boundary line belongs to it (RFC 2046 §5.1.1). */
function splitParts(body: Buffer, boundary: string): Buffer[] {
  const text = body.toString('latin1');
  const delimiter = `--${boundary}`;
  const lines: { begin: number; next: number; close: boolean }[] = [];
  for (let at = text.indexOf(delimiter); at >= 0; at = text.indexOf(delimiter, at + 1)) {
    if (at !== 0 && text.slice(at - 2, at) !== '\r\n') continue;
    const after = at + delimiter.length;
    const close = text.startsWith('--', after);
    const end = text.indexOf('\r\n', after);
    // Only transport padding may follow: `--boundaryX` is another boundary.
    if (!/^[ \t]*$/.test(text.slice(after + (close ? 2 : 0), end < 0 ? text.length : end))) continue;
    const previous = lines.at(-1)?.next ?? 0;
    lines.push({
      begin: Math.max(at === 0 ? 0 : at - 2, previous),
      next: end < 0 ? text.length : end + 2,
      close,
    });
    if (close) break;
  }
  const parts = lines.slice(1).map((line, index) => body.subarray(lines[index]?.next ?? 0, line.begin));
  const last = lines.at(-1);
  if (last && !last.close) parts.push(body.subarray(last.next));
  return parts;
}

/** A leaf's body with its transfer encoding undone (RFC 2045 §6); an unknown encoding is taken as written. */
export function decodedBody(node: MimeNode): Buffer {
  if (node.encoding === 'base64')
    return Buffer.from(node.body.toString('latin1').replace(/[^A-Za-z0-9+/]/g, ''), 'base64');
  if (node.encoding === 'quoted-printable') return decodeQuotedPrintable(node.body);
  return node.body;
}

function decodeQuotedPrintable(body: Buffer): Buffer {
  const text = body
    .toString('latin1')
    .replace(/[ \t]+\r\n/g, '\r\n')
    .replace(/=\r\n/g, '');
  return Buffer.from(
    text.replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
    'latin1',
  );
}

/** A leaf's content as text: text parts in their charset (UTF-8 where unknown), other parts as UTF-8. */
export function decodedText(node: MimeNode): string {
  const bytes = decodedBody(node);
  const charset = node.type.startsWith('text/') ? (node.parameters.charset ?? 'us-ascii') : 'utf-8';
  try {
    return new TextDecoder(charset.toLowerCase() === 'us-ascii' ? 'utf-8' : charset).decode(bytes);
  } catch {
    return new TextDecoder('utf-8').decode(bytes);
  }
}
