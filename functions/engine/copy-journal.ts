import { MailboxNotFoundError, MailsiftError } from '../errors.ts';
import type { FetchMessageObject, ImapSession, MailboxInfo } from '../imap/session.ts';
import { expandUidSet, toRanges } from '../imap/uid-set.ts';

/** Marks a journal entry among the messages of the lease mailbox; the entry itself is the JSON body. */
const COPY_JOURNAL_HEADER = 'X-Mailsift-Copy';

/** An entry no run used up (its rule no longer matches those messages) is deleted after this long. */
const ENTRY_LIFETIME_MS = 30 * 24 * 60 * 60_000;

/** The headers that, with INTERNALDATE and RFC822.SIZE, tell a copy by its original: COPY keeps all three. */
const IDENTITY_HEADERS = ['message-id', 'date', 'from', 'subject'];

/** Ranges per line of an entry's body, so that no line comes near the 998-octet limit of RFC 5322. */
const RANGES_PER_LINE = 60;

/** Which copies: one rule of one ruleset, from one mailbox (at one UIDVALIDITY) to another. */
export interface CopyScope {
  readonly ruleset: string;
  readonly rule: string;
  readonly source: MailboxInfo;
  readonly target: string;
}

/** One COPY, written down in the lease mailbox before it was sent. */
export interface JournalEntry {
  /** UID in the lease mailbox; unknown until read back when the server gave no APPENDUID. */
  uid?: number;
  readonly token: string;
  readonly serial: number;
  readonly ruleset: string;
  readonly rule: string;
  readonly source: string;
  readonly sourceValidity: string;
  readonly target: string;
  /** Empty when the target did not exist yet: then every message in it came after. */
  readonly targetValidity: string;
  /** The target's UIDNEXT before the COPY: its copies can only have UIDs from here on. */
  readonly targetUidNext: number;
  readonly uids: readonly number[];
  readonly writtenAt: number;
}

/** How a rule ended, for the entries of its COPYs. */
export interface RuleEnd {
  readonly ruleset: string;
  readonly rule: string;
  readonly source: MailboxInfo;
  /** What the rule's SEARCH (and client-side checks) selected, and what its actions were applied to. */
  readonly matched: readonly number[];
  readonly acted: readonly number[];
  /** The rule failed (an action threw): it may not have done all it meant to. */
  readonly error: boolean;
  /** Messages an action failed for. */
  readonly failedUids: ReadonlySet<number>;
}

/**
 * Makes COPY happen once per message although a connection can be cut after the server executed a COPY and
 * before the run marked its sources (a keyword, or `\Deleted` and UID EXPUNGE). Before each COPY the run
 * writes down, in the lease mailbox, which UIDs go where and the target's UIDNEXT. A later run of the same
 * rule that is about to copy some of those UIDs again looks in the target, from that UIDNEXT on, for messages
 * with the same headers, INTERNALDATE and size, and does not copy the ones it finds. An entry is deleted once a
 * run of its rule ended without failing for its messages and without leaving any of them matched but not acted
 * on: then each is marked as its rule marks it, or gone. So a COPY whose later actions failed (a webhook that
 * was not delivered) is not repeated either.
 * Needs the account lease: only the holder writes entries, and every entry not its own is from a run that ended.
 */
export class CopyJournal {
  private readonly session: ImapSession;
  private readonly token: string;
  /** The lease mailbox, where the entries are kept. */
  private readonly mailbox: string;
  private readonly earlier: JournalEntry[];
  /** How many entries this run wrote: numbers them, to find them again without APPENDUID. */
  private serial = 0;
  /** Entries to delete on release: used up, or void. */
  private readonly finished = new Set<JournalEntry>();
  /** Entries the running rule wrote, settled by `endRule`. */
  private readonly writtenByRule: JournalEntry[] = [];
  private readonly now: () => number;

  constructor(
    session: ImapSession,
    options: { mailbox: string; token: string; earlier: readonly JournalEntry[]; now?: () => number },
  ) {
    this.session = session;
    this.mailbox = options.mailbox;
    this.token = options.token;
    this.now = options.now ?? Date.now;
    this.earlier = options.earlier.filter((entry) => entry.token !== options.token);
    for (const entry of this.earlier) {
      if (this.now() - entry.writtenAt > ENTRY_LIFETIME_MS) this.finished.add(entry);
    }
  }

  /**
   * Of `uids` (about to be copied to `scope.target`), those that an interrupted earlier run of this rule
   * already copied there: the caller must not copy them again. Costs nothing unless such an entry names some
   * of `uids`; then it reads both mailboxes and SELECTs the source again.
   */
  async alreadyCopied(scope: CopyScope, uids: readonly number[]): Promise<Set<number>> {
    const copied = new Set<number>();
    const acting = new Set(uids);
    // Each copy stands for one original, across entries too: two identical originals need two copies.
    const claimed = new Set<number>();
    for (const entry of this.earlier) {
      if (this.finished.has(entry) || !sameScope(entry, scope)) continue;
      if (entry.sourceValidity !== scope.source.uidValidity.toString()) {
        this.finished.add(entry); // the source was renumbered: its UIDs name other messages now
        continue;
      }
      const candidates = entry.uids.filter((uid) => acting.has(uid) && !copied.has(uid));
      if (candidates.length === 0) continue;
      const { messages: originals } = await this.session.fetch(candidates, identityQuery());
      const copiesOf = new Map<string, number[]>();
      for (const copy of await this.copiesSince(entry, scope)) {
        if (claimed.has(copy.uid)) continue;
        const same = copiesOf.get(identityOf(copy)) ?? [];
        same.push(copy.uid);
        copiesOf.set(identityOf(copy), same);
      }
      for (const original of originals) {
        const copy = copiesOf.get(identityOf(original))?.shift();
        if (copy === undefined) continue;
        claimed.add(copy);
        copied.add(original.uid);
      }
    }
    return copied;
  }

  /** Writes down that `uids` are about to be copied to `scope.target` (STATUS of the target, then APPEND). */
  async record(scope: CopyScope, uids: readonly number[]): Promise<void> {
    const status = await this.session.mailboxStatus(scope.target);
    const entry: JournalEntry = {
      token: this.token,
      serial: ++this.serial,
      ruleset: scope.ruleset,
      rule: scope.rule,
      source: scope.source.path,
      sourceValidity: scope.source.uidValidity.toString(),
      target: scope.target,
      targetValidity: status?.uidValidity.toString() ?? '',
      targetUidNext: status?.uidNext ?? 1,
      uids: [...uids],
      writtenAt: this.now(),
    };
    entry.uid = await this.session.appendMessage(this.mailbox, entryMessage(entry), ['\\Seen']);
    this.writtenByRule.push(entry);
  }

  /**
   * A rule ended (`undefined`: the connection was lost). Its entries, the ones it wrote and those of earlier
   * runs, are used up when it failed for none of their messages and left none of them matched but not acted
   * on (a `limit`): each of them then carries what the rule's actions leave, or is gone, or no longer matches.
   */
  endRule(end: RuleEnd | undefined): void {
    const written = this.writtenByRule.splice(0);
    if (!end || end.error) return;
    const waiting = new Set(end.matched);
    for (const uid of end.acted) waiting.delete(uid);
    const usedUp = (entry: JournalEntry) =>
      entry.uids.every((uid) => !waiting.has(uid) && !end.failedUids.has(uid));
    for (const entry of written) if (usedUp(entry)) this.finished.add(entry);
    for (const entry of this.earlier) {
      if (entry.ruleset !== end.ruleset || entry.rule !== end.rule || entry.source !== end.source.path)
        continue;
      if (entry.sourceValidity !== end.source.uidValidity.toString() || usedUp(entry))
        this.finished.add(entry);
    }
  }

  /**
   * The lease mailbox UIDs of the entries to delete, the lease mailbox being selected. Without APPENDUID our
   * own entries' UIDs are read back (one FETCH).
   */
  async finishedUids(): Promise<number[]> {
    const done = [...this.finished];
    if (done.some((entry) => entry.uid === undefined)) {
      const stored = parseJournalEntries(await this.session.fetchEvery({ source: true }));
      for (const entry of done) {
        if (entry.uid !== undefined) continue;
        entry.uid = stored.find((each) => each.token === entry.token && each.serial === entry.serial)?.uid;
      }
    }
    return done.flatMap((entry) => (entry.uid === undefined ? [] : [entry.uid]));
  }

  /** The messages in the target that arrived since the entry was written (none if it was recreated). */
  private async copiesSince(entry: JournalEntry, scope: CopyScope): Promise<FetchMessageObject[]> {
    let copies: FetchMessageObject[] = [];
    try {
      const target = await this.session.openMailbox(scope.target, true);
      if (!entry.targetValidity || entry.targetValidity === target.uidValidity.toString()) {
        copies = await this.session.fetchFrom(entry.targetUidNext, identityQuery());
      }
    } catch (error) {
      if (!(error instanceof MailboxNotFoundError)) throw error;
    }
    const source = await this.session.openMailbox(scope.source.path, false);
    if (source.uidValidity !== scope.source.uidValidity) {
      throw new MailsiftError(
        `mailbox ${JSON.stringify(scope.source.path)} was renumbered (UIDVALIDITY changed) during the run; ` +
          'nothing was copied, the next run starts afresh',
      );
    }
    return copies;
  }
}

function sameScope(entry: JournalEntry, scope: CopyScope): boolean {
  return (
    entry.ruleset === scope.ruleset &&
    entry.rule === scope.rule &&
    entry.source === scope.source.path &&
    entry.target === scope.target
  );
}

function identityQuery() {
  return { internalDate: true, size: true, headers: IDENTITY_HEADERS };
}

/** COPY keeps a message's bytes, flags and INTERNALDATE (RFC 3501 §6.4.7): a copy has its original's identity. */
function identityOf(message: FetchMessageObject): string {
  const date = message.internalDate ? new Date(message.internalDate).toISOString() : '';
  return `${date}\u0000${message.size ?? ''}\u0000${message.headers?.toString('latin1') ?? ''}`;
}

/** JSON with every non-ASCII character escaped: the body stays 7-bit whatever the mailbox names. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value, null, 1).replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function entryMessage(entry: JournalEntry): string {
  const ranges = toRanges(entry.uids);
  const lines: string[] = [];
  for (let i = 0; i < ranges.length; i += RANGES_PER_LINE) {
    lines.push(ranges.slice(i, i + RANGES_PER_LINE).join(','));
  }
  const { uid: _uid, uids: _uids, ...fields } = entry;
  return [
    'From: mailsift <mailsift@localhost>',
    'Subject: mailsift copy in progress',
    `Date: ${new Date(entry.writtenAt).toUTCString()}`,
    `Message-ID: <${entry.token}.${entry.serial}@mailsift.copy>`,
    `${COPY_JOURNAL_HEADER}: ${entry.token}`,
    'MIME-Version: 1.0',
    'Content-Type: application/json; charset=us-ascii',
    '',
    asciiJson({ ...fields, uids: lines }),
    '',
  ].join('\r\n');
}

/** The journal entries among the lease mailbox's messages (fetched with `source`); anything else is ignored. */
export function parseJournalEntries(messages: readonly { uid: number; source?: Buffer }[]): JournalEntry[] {
  const entries: JournalEntry[] = [];
  for (const message of messages) {
    const text = message.source?.toString('utf8') ?? '';
    const split = text.search(/\r?\n\r?\n/);
    if (split < 0) continue;
    const head = text.slice(0, split).replace(/\r?\n[ \t]+/g, ' ');
    if (!new RegExp(`^${COPY_JOURNAL_HEADER}:`, 'im').test(head)) continue;
    try {
      const body = JSON.parse(text.slice(split).trim()) as Record<string, unknown>;
      const uids = Array.isArray(body.uids) ? expandUidSet(body.uids.join(',')) : [];
      const entry: JournalEntry = {
        uid: message.uid,
        token: String(body.token ?? ''),
        serial: Number(body.serial) || 0,
        ruleset: String(body.ruleset ?? ''),
        rule: String(body.rule ?? ''),
        source: String(body.source ?? ''),
        sourceValidity: String(body.sourceValidity ?? ''),
        target: String(body.target ?? ''),
        targetValidity: String(body.targetValidity ?? ''),
        targetUidNext: Number(body.targetUidNext) || 1,
        uids,
        writtenAt: Number(body.writtenAt) || 0,
      };
      if (entry.token) entries.push(entry);
    } catch {
      // not an entry we can read: ignored, never deleted (it expires only if it parses)
    }
  }
  return entries;
}
