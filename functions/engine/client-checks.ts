import libmime from 'libmime';
import type { FetchMessageObject } from '../imap/session.ts';
import type { Match } from '../rules/schema.ts';
import { compileUserRegex } from '../rules/units.ts';

export type BodyNode = NonNullable<FetchMessageObject['bodyStructure']>;

/** A check SEARCH cannot express, and the FETCH items it needs. */
export interface ClientCheck {
  readonly needs: { envelope?: true; bodyStructure?: true; internalDate?: true; headers?: readonly string[] };
  readonly test: (message: FetchMessageObject) => boolean;
}

/** Unfolded, encoded-word-decoded header values by lower-case name, from a raw header block. */
export function parseHeaderBlock(raw: Buffer | undefined): Map<string, string[]> {
  const headers = new Map<string, string[]>();
  if (!raw) return headers;
  // RFC 5322 §2.2.3: a line starting with white space continues the previous field.
  const unfolded = raw.toString('binary').replace(/\r?\n[ \t]+/g, ' ');
  for (const line of unfolded.split(/\r?\n/)) {
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

function globToRegex(glob: string): RegExp {
  const escaped = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, 'i');
}

function mimeTypeMatches(wanted: string, actual: string): boolean {
  const [wantedType, wantedSub] = wanted.toLowerCase().split('/');
  const [actualType, actualSub] = actual.toLowerCase().split('/');
  return wantedType === actualType && (wantedSub === '*' || wantedSub === actualSub);
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

function addressesOf(list: { name?: string; address?: string }[] | undefined): string[] {
  return (list ?? []).map((entry) =>
    entry.name ? `${entry.name} <${entry.address ?? ''}>` : (entry.address ?? ''),
  );
}

/** Client-side checks for the keys of one match object that SEARCH cannot express. */
export function clientChecksOf(match: Match): ClientCheck[] {
  const checks: ClientCheck[] = [];
  if (match.subjectMatches !== undefined) {
    const regex = compileUserRegex(match.subjectMatches);
    checks.push({ needs: { envelope: true }, test: (m) => regex.test(m.envelope?.subject ?? '') });
  }
  if (match.fromMatches !== undefined) {
    const regex = compileUserRegex(match.fromMatches);
    checks.push({
      needs: { envelope: true },
      test: (m) => addressesOf(m.envelope?.from).some((a) => regex.test(a)),
    });
  }
  if (match.headerMatches) {
    const wanted = Object.entries(match.headerMatches).map(([name, source]) => ({
      name: name.toLowerCase(),
      regex: compileUserRegex(source),
    }));
    checks.push({
      needs: { headers: wanted.map((entry) => entry.name) },
      test: (m) => {
        const headers = parseHeaderBlock(m.headers);
        return wanted.every(({ name, regex }) =>
          (headers.get(name) ?? []).some((value) => regex.test(value)),
        );
      },
    });
  }
  if (match.attachment) {
    const { type, filename } = match.attachment;
    const filenameRegex = filename === undefined ? undefined : globToRegex(filename);
    checks.push({
      needs: { bodyStructure: true },
      test: (m) =>
        listAttachments(m.bodyStructure).some(
          (part) =>
            (type === undefined || mimeTypeMatches(type, part.type)) &&
            (filenameRegex === undefined || filenameRegex.test(part.filename ?? '')),
        ),
    });
  }
  return checks;
}
