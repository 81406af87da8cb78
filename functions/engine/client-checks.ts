import type { FetchMessageObject } from '../imap/session.ts';
import { listAttachments, parseHeaderBlock } from '../mail/mime.ts';
import type { Match } from '../rules/schema.ts';
import { compileUserRegex } from '../rules/units.ts';

/** A check SEARCH cannot express, and the FETCH items it needs. */
export interface ClientCheck {
  readonly needs: { envelope?: true; bodyStructure?: true; internalDate?: true; headers?: readonly string[] };
  readonly test: (message: FetchMessageObject) => boolean;
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
