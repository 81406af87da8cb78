import { type Address, parseAddressList } from '../mail/addresses.ts';
import type { BodyNode } from '../mail/mime.ts';
import { decodedText, decodeWords, type MimeNode, parseMime, withCrlf } from '../mail/mime-tree.ts';
import type { Envelope, MessageFacts, MessageText } from './facts.ts';

/** What a test case says of a message that its file cannot: its flags and when it was received. */
export interface MessageFileOptions {
  readonly flags?: readonly string[];
  /** INTERNALDATE; by default the Date header, else `fallbackReceived`, else now. */
  readonly received?: Date | undefined;
  readonly fallbackReceived?: Date;
}

/**
 * A message file (`.eml`, RFC 5322) as the offline evaluator sees it: the ENVELOPE and BODYSTRUCTURE a server
 * would give for it (in imapflow's shapes), its size with CRLF line ends, and its decoded text.
 */
export function messageFacts(raw: Buffer, options: MessageFileOptions = {}): MessageFacts {
  const message = withCrlf(raw);
  const root = parseMime(message);
  const envelope = envelopeOf(root);
  const dated =
    envelope.date instanceof Date && !Number.isNaN(envelope.date.getTime()) ? envelope.date : undefined;
  return {
    envelope,
    bodyStructure: structureOf(root, []),
    size: message.length,
    internalDate: options.received ?? dated ?? options.fallbackReceived ?? new Date(),
    flags: new Set(options.flags ?? []),
    header: root.header,
    text: textOf(root),
  };
}

function addresses(node: MimeNode, name: string): Address[] | undefined {
  const values = node.fields.get(name);
  if (!values) return undefined;
  const list = values.flatMap(parseAddressList);
  return list.length > 0 ? list : undefined;
}

/** ENVELOPE (RFC 3501 §7.4.2) as imapflow parses it: subject and names decoded. */
function envelopeOf(node: MimeNode): Envelope {
  const first = (name: string) => node.fields.get(name)?.[0];
  const date = first('date');
  const from = addresses(node, 'from');
  const entries = {
    date: date === undefined ? undefined : new Date(date),
    subject: first('subject') === undefined ? undefined : decodeWords(first('subject') as string),
    from,
    // A server gives From where Sender or Reply-To is missing (RFC 3501 §7.4.2).
    sender: addresses(node, 'sender') ?? from,
    replyTo: addresses(node, 'reply-to') ?? from,
    to: addresses(node, 'to'),
    cc: addresses(node, 'cc'),
    bcc: addresses(node, 'bcc'),
    inReplyTo: first('in-reply-to'),
    messageId: first('message-id'),
  };
  return Object.fromEntries(Object.entries(entries).filter(([, value]) => value !== undefined)) as Envelope;
}

/** BODYSTRUCTURE (RFC 3501 §7.4.2) as imapflow parses it: part numbers, a message/rfc822's message as its child. */
function structureOf(node: MimeNode, path: readonly number[]): BodyNode {
  const own = {
    ...(path.length > 0 ? { part: path.join('.') } : {}),
    type: node.type,
    ...(Object.keys(node.parameters).length > 0 ? { parameters: { ...node.parameters } } : {}),
    ...(node.disposition ? { disposition: node.disposition } : {}),
    ...(node.dispositionParameters && Object.keys(node.dispositionParameters).length > 0
      ? { dispositionParameters: { ...node.dispositionParameters } }
      : {}),
  };
  if (node.parts) {
    return {
      ...own,
      childNodes: node.parts.map((part, index) => structureOf(part, [...path, index + 1])),
    } as BodyNode;
  }
  const leaf = { ...own, encoding: node.encoding, size: node.body.length };
  if (node.message) return { ...leaf, childNodes: [structureOf(node.message, path)] } as BodyNode;
  return leaf as BodyNode;
}

/** What BODY and TEXT search: every text leaf's decoded content, every header block decoded (RFC 2047). */
function textOf(root: MimeNode): MessageText {
  const parts: string[] = [];
  const headers: string[] = [];
  const walk = (node: MimeNode) => {
    headers.push(
      [...node.fields]
        .flatMap(([name, values]) => values.map((v) => `${name}: ${decodeWords(v)}`))
        .join('\n'),
    );
    if (node.parts) for (const part of node.parts) walk(part);
    else if (node.message) walk(node.message);
    // Dovecot searches the bodies of text/ and message/ parts only: an attachment's bytes are not text.
    else if (/^(text|message)\//.test(node.type)) parts.push(decodedText(node));
  };
  walk(root);
  return { parts, headers };
}
