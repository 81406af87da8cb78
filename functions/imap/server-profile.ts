import type { ImapFlow } from 'imapflow';
import { MAX_UID_SET_LENGTH } from './uid-set.ts';

/**
 * What mailsift needs to know about a server, learnt once after login from CAPABILITY, NAMESPACE and the
 * greeting, and asked by every module that would otherwise test a capability itself. Keywords are a fact of
 * each mailbox (its PERMANENTFLAGS, RFC 3501 §7.1), so the session answers them per selected mailbox.
 */
export interface ServerProfile {
  /** Everything CAPABILITY said after login (inside TLS), for the record; decisions use the facts below. */
  readonly capabilities: ReadonlySet<string>;
  /** RFC 6851; without it a move is COPY, STORE \Deleted and UID EXPUNGE. */
  readonly move: boolean;
  /** RFC 4315: UID EXPUNGE of exactly the matched UIDs, COPYUID. Without it mailsift does not expunge. */
  readonly uidPlus: boolean;
  /** RFC 7162: MODSEQ, what incremental runs rest on. */
  readonly condstore: boolean;
  /** RFC 5182: a SEARCH result kept as `$`, so that actions need not send the UIDs again. */
  readonly searchRes: boolean;
  /** RFC 5032: OLDER/YOUNGER, durations to the second on the server's clock. */
  readonly within: boolean;
  /** RFC 6154: Trash found by its `\Trash` attribute, not by name. */
  readonly specialUse: boolean;
  /** Gmail (X-GM-EXT-1): mailboxes are labels; an expunge only takes one off. */
  readonly labels: boolean;
  /** Microsoft Exchange (by its greeting): refuses long command lines (`BAD Command Error. 10`). */
  readonly exchange: boolean;
  /** Longest UID set one command carries: well under the shortest line limit known for the server. */
  readonly maxUidSetLength: number;
}

/**
 * On-premises Exchange refuses command lines over 10,240 bytes by default; Exchange Online documents no figure.
 * A UID set of 2,000 characters keeps every command mailsift sends far below it.
 */
const EXCHANGE_UID_SET_LENGTH = 2000;

export function profileOf(client: ImapFlow): ServerProfile {
  const has = (name: string) => client.capabilities.has(name);
  const exchange = /Microsoft Exchange/i.test(String((client as { greeting?: unknown }).greeting ?? ''));
  return {
    capabilities: new Set(client.capabilities.keys()),
    move: has('MOVE'),
    uidPlus: has('UIDPLUS'),
    condstore: has('CONDSTORE') || has('QRESYNC'),
    searchRes: has('SEARCHRES') && has('ESEARCH'),
    within: has('WITHIN'),
    specialUse: has('SPECIAL-USE'),
    labels: has('X-GM-EXT-1'),
    exchange,
    maxUidSetLength: exchange ? EXCHANGE_UID_SET_LENGTH : MAX_UID_SET_LENGTH,
  };
}

/** A full-featured server's answers: a fact that differs from these made mailsift take another way. */
const USUAL: Omit<ServerProfile, 'capabilities' | 'maxUidSetLength'> = {
  move: true,
  uidPlus: true,
  condstore: true,
  searchRes: true,
  within: true,
  specialUse: true,
  labels: false,
  exchange: false,
};

export type ProfileFacts = Readonly<Record<string, boolean | number>>;

/**
 * The facts of `profile` that changed what a run did, for the summary (`"server": {"move": false}`), with
 * `keywords: false` when a mailbox it acted in could not keep keywords.
 */
export function factsThatMatter(profile: ServerProfile, keywords: boolean): ProfileFacts {
  const facts: Record<string, boolean | number> = {};
  for (const [name, usual] of Object.entries(USUAL)) {
    const value = profile[name as keyof typeof USUAL];
    if (value !== usual) facts[name] = value;
  }
  if (profile.maxUidSetLength !== MAX_UID_SET_LENGTH) facts.maxUidSetLength = profile.maxUidSetLength;
  if (!keywords) facts.keywords = false;
  return facts;
}
