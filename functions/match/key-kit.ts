import { OfflineEvaluationError } from '../errors.ts';
import type { SearchObject } from '../imap/session.ts';
import type { Verdict } from './define.ts';
import type { Envelope, MessageFacts, MessageText } from './facts.ts';

/**
 * Text as SEARCH compares it: servers use the i;unicode-casemap comparator (RFC 5051, Dovecot's default): case
 * folded and canonically decomposed, so `e` is found in `É`.
 */
export function fold(text: string): string {
  return text.normalize('NFD').toLowerCase();
}

/** A value as `explain` shows it: as written, line breaks as spaces, cut short when long; quoted when empty. */
export function shown(text: string): string {
  const flat = text.replace(/[\r\n\t]+/g, ' ');
  if (flat.trim() === '') return JSON.stringify(flat);
  return flat.length > 120 ? `${flat.slice(0, 117)}...` : flat;
}

/** Whether `needle` is a substring of any of `texts`, after folding both; `saw` lists the texts. */
export function substringVerdict(texts: readonly string[], needle: string): Verdict {
  const wanted = fold(needle);
  return {
    matched: texts.some((text) => fold(text).includes(wanted)),
    saw: texts.length === 0 ? '(none)' : texts.map(shown).join(', '),
  };
}

/** "Name <address>" of each entry of an address list, as SEARCH FROM/TO/CC and fromMatches see them. */
export function addressTexts(list: Envelope['from']): string[] {
  return (list ?? []).map((entry) =>
    entry.name ? `${entry.name} <${entry.address ?? ''}>` : (entry.address ?? ''),
  );
}

/**
 * An address header as Dovecot's SEARCH FROM/TO/CC reads it (message_address_write): each address `Name <a@b>`,
 * the name quoted where it is not one atom (`"Billing Team" <billing@acme.com>`), `<a@b>` without a name, joined
 * by `, `. So `team" <bill` is found and `team <bill` is not; names and addresses decoded.
 */
export function searchedAddresses(list: Envelope['from']): string[] {
  if (!list || list.length === 0) return [];
  const phrase = (name: string) =>
    /^[^\s"(),.:;<>@[\\\]]+$/u.test(name) ? name : `"${name.replace(/(["\\])/g, '\\$1')}"`;
  const entries = list.map((entry) =>
    entry.name
      ? entry.address
        ? `${phrase(entry.name)} <${entry.address}>`
        : phrase(entry.name)
      : `<${entry.address ?? ''}>`,
  );
  return [entries.join(', ')];
}

/** Whether the message carries `flag`; flags compare without regard to case (RFC 3501 §2.3.2). */
export function flagVerdict(flags: ReadonlySet<string>, flag: string, present: boolean): Verdict {
  const has = [...flags].some((each) => each.toLowerCase() === flag.toLowerCase());
  return { matched: has === present, saw: flags.size === 0 ? 'no flags' : [...flags].join(' ') };
}

/** A date bound on `query`: set, or combined with one already there (`before`: the earlier wins). */
export function tighten(query: SearchObject, bound: 'before' | 'since', value: Date | string): void {
  const current = query[bound];
  if (current === undefined) {
    query[bound] = value;
    return;
  }
  const existing = new Date(current);
  const next = new Date(value);
  const keep = bound === 'before' ? existing < next : existing > next;
  query[bound] = keep ? existing : next;
}

/** When the message was received, as `explain` shows it. */
export function receivedVerdict(message: MessageFacts, matched: boolean): Verdict {
  return { matched, saw: `received ${message.internalDate.toISOString()}` };
}

/** The text BODY and TEXT search, or an error saying it was not read. */
export function textOf(message: MessageFacts, key: string): MessageText {
  if (!message.text) throw new OfflineEvaluationError(`${key} needs the message body, which was not read`);
  return message.text;
}

/** The raw header block, or an error saying it was not read. */
export function headerOf(message: MessageFacts, key: string): Buffer {
  if (!message.header)
    throw new OfflineEvaluationError(`${key} needs the message header, which was not read`);
  return message.header;
}

export function globToRegex(glob: string): RegExp {
  const escaped = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, 'i');
}

export function mimeTypeMatches(wanted: string, actual: string): boolean {
  const [wantedType, wantedSub] = wanted.toLowerCase().split('/');
  const [actualType, actualSub] = actual.toLowerCase().split('/');
  return wantedType === actualType && (wantedSub === '*' || wantedSub === actualSub);
}
