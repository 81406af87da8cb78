import type { FetchMessageObject } from '../imap/session.ts';
import { type BodyNode, findTextPart, sectionOf } from '../mail/mime.ts';
import type { ActionContext } from './actions/types.ts';

/**
 * Raw bytes fetched per character of `maxTextLength`: base64 and quoted-printable inflate text, HTML more.
 * The fetch is a partial `BODY.PEEK[part]<0.n>`: a 30 MB message never comes down whole.
 */
const RAW_BYTES_PER_CHAR = 6;

/** mailparser is loaded on first use: runs without a webhook (most cold starts) never pay for it. */
const loadParser = () => import('../mail/parse.ts');

/** The text of each message (at most `maxTextLength` characters), by UID: one FETCH per distinct text section. */
export async function fetchTexts(
  context: Pick<ActionContext, 'session'>,
  messages: readonly FetchMessageObject[],
  maxTextLength: number,
): Promise<Map<number, { text: string; truncated: boolean }>> {
  const cap = maxTextLength * RAW_BYTES_PER_CHAR;
  // Most messages share "1" or "1.1": one FETCH per section, not one per message.
  const bySection = new Map<string, { uid: number; part: BodyNode }[]>();
  for (const message of messages) {
    const part = findTextPart(message.bodyStructure);
    if (!part) continue;
    const group = bySection.get(sectionOf(part)) ?? [];
    group.push({ uid: message.uid, part });
    bySection.set(sectionOf(part), group);
  }
  const texts = new Map<number, { text: string; truncated: boolean }>();
  for (const [section, group] of bySection) {
    const { messages: fetched } = await context.session.fetch(
      group.map((entry) => entry.uid),
      { bodyParts: [{ key: section, start: 0, maxLength: cap }] },
    );
    const rawByUid = new Map(
      fetched.map((m) => [m.uid, m.bodyParts?.get(section) ?? m.bodyParts?.get(section.toLowerCase())]),
    );
    for (const { uid, part } of group) {
      const raw = rawByUid.get(uid) ?? Buffer.alloc(0);
      const decoded = await (await loadParser()).decodeTextPart({
        contentType: part.type ?? 'text/plain',
        charset: part.parameters?.charset,
        encoding: part.encoding,
        raw,
      });
      const cut = decoded.length > maxTextLength || (part.size ?? 0) > raw.length;
      texts.set(uid, { text: decoded.slice(0, maxTextLength), truncated: cut });
    }
  }
  return texts;
}
