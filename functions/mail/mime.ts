import libmime from 'libmime';
import type { FetchMessageObject } from '../imap/session.ts';

/** One node of a message's BODYSTRUCTURE, as imapflow parses it. */
export type BodyNode = NonNullable<FetchMessageObject['bodyStructure']>;

/** RFC 5322 §2.2.3: a line starting with white space continues the previous field. */
export function unfoldHeaders(block: string): string {
  return block.replace(/\r?\n[ \t]+/g, ' ');
}

/** Unfolded, encoded-word-decoded header values by lower-case name, from a raw header block. */
export function parseHeaderBlock(raw: Buffer | undefined): Map<string, string[]> {
  const headers = new Map<string, string[]>();
  if (!raw) return headers;
  for (const line of unfoldHeaders(raw.toString('binary')).split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    let value = line.slice(colon + 1).trim();
    try {
      value = libmime.decodeWords(Buffer.from(value, 'binary').toString('utf8'));
    } catch {
      // A broken encoded word stays as written: matching on raw text beats failing the rule.
    }
    headers.set(name, [...(headers.get(name) ?? []), value]);
  }
  return headers;
}

function filenameOf(node: BodyNode): string | undefined {
  return node.dispositionParameters?.filename ?? node.parameters?.name;
}

/** True for a part that is an attachment: marked `attachment`, or a leaf carrying a file name. */
export function isAttachment(node: BodyNode): boolean {
  return node.disposition?.toLowerCase() === 'attachment' || Boolean(!node.childNodes && filenameOf(node));
}

/** Attachments at any depth of BODYSTRUCTURE, with their encoded size. */
export function listAttachments(
  node: BodyNode | undefined,
): { type: string; filename?: string; size: number }[] {
  if (!node) return [];
  const own = isAttachment(node)
    ? [{ type: node.type ?? 'application/octet-stream', filename: filenameOf(node), size: node.size ?? 0 }]
    : [];
  return [...own, ...(node.childNodes ?? []).flatMap((child) => listAttachments(child))];
}

/** The part to read a message's text from: the first inline text/plain, else the first inline text/html. */
export function findTextPart(root: BodyNode | undefined): BodyNode | undefined {
  const leaves: BodyNode[] = [];
  const walk = (node: BodyNode) => {
    if (node.childNodes) for (const child of node.childNodes) walk(child);
    else if (!isAttachment(node)) leaves.push(node);
  };
  if (root) walk(root);
  return leaves.find((n) => n.type === 'text/plain') ?? leaves.find((n) => n.type === 'text/html');
}

/** BODY section of a leaf; a message that is not multipart has its body as section 1 (RFC 3501 §6.4.5). */
export function sectionOf(node: BodyNode): string {
  return node.part ?? '1';
}
