import { simpleParser } from 'mailparser';

/** One body part as BODYSTRUCTURE describes it, with (a prefix of) its raw, still-encoded bytes. */
export interface RawTextPart {
  readonly contentType: string;
  readonly charset?: string;
  readonly encoding?: string;
  readonly raw: Buffer;
}

/**
 * Decodes a text part's transfer encoding and charset into text; HTML becomes plain text. Works on a
 * prefix of the part (we never download more than a cap), and on broken input it returns what it could.
 */
export async function decodeTextPart(part: RawTextPart): Promise<string> {
  // The part is wrapped in a minimal MIME entity so mailparser applies exactly the decoding the
  // message declared (RFC 2045 §6, RFC 2046 §4.1.2).
  const header =
    `Content-Type: ${part.contentType}${part.charset ? `; charset="${part.charset.replace(/["\\\r\n]/g, '')}"` : ''}\r\n` +
    `Content-Transfer-Encoding: ${(part.encoding ?? '7bit').replace(/[^\w-]/g, '')}\r\n\r\n`;
  const parsed = await simpleParser(Buffer.concat([Buffer.from(header), part.raw]), {
    skipImageLinks: true,
    skipHtmlToText: false,
    skipTextToHtml: true,
    skipTextLinks: true,
  });
  return (parsed.text ?? '').trim();
}
