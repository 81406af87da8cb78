import type { FetchMessageObject, FetchQueryObject, ImapFlow, SearchObject } from 'imapflow';
import { appendMessage } from './append.ts';
import {
  connectClient,
  DEFAULT_TIMEOUTS,
  type ImapAccount,
  type SessionTimeouts,
  type TokenSource,
} from './connect.ts';
import { expungeExactly, removeOwnMessages } from './expunge.ts';
import { fetchEvery, fetchFrom, fetchMessages } from './fetch.ts';
import { createMailbox, listMailboxes, type MailboxInfo, mailboxStatus, openMailbox } from './mailbox.ts';
import { serverName, userName } from './mailbox-names.ts';
import { ModseqSeen } from './modseq-seen.ts';
import { SavedResult } from './saved-result.ts';
import { searchUids } from './search.ts';
import { factsThatMatter, type ProfileFacts, profileOf, type ServerProfile } from './server-profile.ts';
import type { SessionCore } from './session-core.ts';
import { canStore, storeFlags } from './store.ts';
import { type CopiedUids, transferMessages } from './transfer.ts';
import type { WireRecord } from './wire-record.ts';

export type {
  CopiedUids,
  FetchMessageObject,
  FetchQueryObject,
  ImapAccount,
  MailboxInfo,
  SearchObject,
  ServerProfile,
  SessionTimeouts,
  TokenSource,
};
export { DEFAULT_TIMEOUTS };

/**
 * One logged-in IMAP connection: the only door to imapflow, so that its traps (opportunistic STARTTLS,
 * unchunked UID sets, hidden TRYCREATE, bare EXPUNGE, keywords dropped in silence) are handled in one place.
 * A thin façade: each method is one command family's module.
 */
export class ImapSession {
  private readonly core: SessionCore;
  private trashPath: string | undefined;
  private keywordsRefused = false;

  private constructor(client: ImapFlow, wire: WireRecord) {
    const profile = profileOf(client);
    this.core = {
      client,
      profile,
      wire,
      saved: new SavedResult(profile.maxUidSetLength),
      modseqSeen: new ModseqSeen(),
    };
  }

  /**
   * Connects, secures and logs in.
   * @throws ImapConnectError, ImapTlsError or ImapAuthError; none of them carries the password.
   */
  static async connect(
    account: ImapAccount,
    timeouts: SessionTimeouts = DEFAULT_TIMEOUTS,
  ): Promise<ImapSession> {
    const { client, wire } = await connectClient(account, timeouts);
    return new ImapSession(client, wire);
  }

  /** The text of the server's BYE, where it hung up with one (Exchange: `… AccessTokenExpired`). */
  get byeReason(): string | undefined {
    return this.core.client.byeReason ?? undefined;
  }

  /** The highest MODSEQ the selected mailbox reached by this session's changes since its SELECT (modseq-seen.ts). */
  modseqReached(): bigint | undefined {
    return this.core.modseqSeen.value;
  }

  /** Every command sent on this connection, by name (`UID SEARCH`, `UID MOVE`, …), in order. */
  get commands(): readonly string[] {
    return this.core.wire.commands;
  }

  /** What this server can do and how it differs, from CAPABILITY and the greeting (see server-profile.ts). */
  get profile(): ServerProfile {
    return this.core.profile;
  }

  /** SELECT, or EXAMINE when `readOnly`; not again for the mailbox selected. @throws MailboxNotFoundError, ImapActionError */
  openMailbox(path: string, readOnly: boolean): Promise<MailboxInfo> {
    return openMailbox(this.core, path, readOnly);
  }

  /**
   * `uids` in the chunks one command line takes (all at once when `$` names them), for work that must finish a
   * chunk before it starts the next.
   */
  chunks(uids: readonly number[]): (readonly number[])[] {
    return this.core.saved.chunksOf(uids);
  }

  /** The UID sets that name `uids` in commands: `$` where it names exactly them (RFC 5182), else chunks. */
  uidSets(uids: readonly number[]): string[] {
    return this.core.saved.uidSets(uids);
  }

  /** Throws MailboxNameError when this server has no name for `name` (a rule file's `/`-separated name). */
  assertNameable(name: string): void {
    serverName(this.core, name);
  }

  /** Whether the selected mailbox keeps `flag` (PERMANENTFLAGS lists it, or `\*` for any keyword). */
  canStore(flag: string): boolean {
    const can = canStore(this.core, flag);
    if (!can && !flag.startsWith('\\')) this.keywordsRefused = true;
    return can;
  }

  /** The profile's facts that changed what this session did, `keywords: false` once a mailbox refused one. */
  get factsThatMatter(): ProfileFacts {
    return factsThatMatter(this.core.profile, !this.keywordsRefused);
  }

  /** `UID SEARCH`; with `save`, also kept as `$` where the server can (RFC 5182). */
  searchUids(query: SearchObject, options: { save?: boolean; compact?: boolean } = {}): Promise<number[]> {
    return searchUids(this.core, query, options);
  }

  /** `UID FETCH` of `items`, chunked; `unreadable` are the UIDs nothing usable came back for. */
  fetch(uids: readonly number[], items: FetchQueryObject) {
    return fetchMessages(this.core, uids, items);
  }

  /** `UID FETCH from:*`: the messages that arrived since UIDNEXT was `from`. */
  fetchFrom(from: number, items: FetchQueryObject): Promise<FetchMessageObject[]> {
    return fetchFrom(this.core, from, items);
  }

  /** `FETCH 1:*`: only for small mailboxes of our own. */
  fetchEvery(items: FetchQueryObject): Promise<FetchMessageObject[]> {
    return fetchEvery(this.core, items);
  }

  /** `STATUS (UIDNEXT UIDVALIDITY)`; undefined for a mailbox that does not exist. */
  mailboxStatus(path: string): Promise<{ uidNext: number; uidValidity: bigint } | undefined> {
    return mailboxStatus(this.core, path);
  }

  /** `APPEND`, creating the mailbox unsubscribed on [TRYCREATE]; the APPENDUID where the server gives one. */
  appendMessage(path: string, content: string, flags: readonly string[]): Promise<number | undefined> {
    return appendMessage(this.core, path, content, flags);
  }

  /** `UID STORE ±FLAGS.SILENT`; refuses flags the mailbox cannot keep. @throws CapabilityError */
  storeFlags(uids: readonly number[], mode: 'add' | 'remove', flags: readonly string[]): Promise<void> {
    return storeFlags(this.core, uids, mode, flags);
  }

  /** Marks `uids` `\Deleted`, the first half of removing exactly them (see expungeExactly). */
  markDeleted(uids: readonly number[]): Promise<void> {
    return storeFlags(this.core, uids, 'add', ['\\Deleted']);
  }

  /** `UID EXPUNGE` of exactly `uids` (RFC 4315). @throws CapabilityError without UIDPLUS */
  expungeExactly(uids: readonly number[]): Promise<void> {
    return expungeExactly(this.core, uids);
  }

  /** Deletes messages of ours from the selected mailbox, which holds nothing else (the lease mailbox). */
  removeOwnMessages(uids: readonly number[]): Promise<void> {
    return removeOwnMessages(this.core, uids);
  }

  /** `UID COPY`, creating the destination once on [TRYCREATE]. */
  copyMessages(uids: readonly number[], destination: string): Promise<CopiedUids | undefined> {
    return transferMessages(this.core, 'UID COPY', uids, destination);
  }

  /** `UID MOVE` (RFC 6851), creating the destination once on [TRYCREATE]; only where MOVE is offered. */
  moveMessages(uids: readonly number[], destination: string): Promise<CopiedUids | undefined> {
    return transferMessages(this.core, 'UID MOVE', uids, destination);
  }

  /** `CREATE`, then `SUBSCRIBE` unless told not to; an existing mailbox counts as success. */
  createMailbox(path: string, options: { subscribe?: boolean } = {}): Promise<void> {
    return createMailbox(this.core, path, options);
  }

  /**
   * The mailbox with SPECIAL-USE `\Trash` (RFC 6154), else one named Trash, created when missing unless
   * `create` is false (a dry run).
   */
  async findTrash(create = true): Promise<string> {
    if (this.trashPath) return this.trashPath;
    const mailboxes = await listMailboxes(this.core);
    const special = mailboxes.find((mailbox) => mailbox.specialUse === '\\Trash');
    const named = mailboxes.find((mailbox) => userName(this.core, mailbox.path).toLowerCase() === 'trash');
    const found = special?.path ?? named?.path;
    this.trashPath = found === undefined ? 'Trash' : userName(this.core, found);
    if (!special && !named && create) await this.createMailbox(this.trashPath);
    return this.trashPath;
  }

  /** Every mailbox that can be selected (LIST, without `\Noselect` ones), by mailsift's `/`-separated names. */
  async mailboxNames(): Promise<string[]> {
    const mailboxes = await listMailboxes(this.core);
    return mailboxes
      .filter((mailbox) => !mailbox.flags?.has('\\Noselect') && !mailbox.flags?.has('\\NonExistent'))
      .map((mailbox) => userName(this.core, mailbox.path));
  }

  /** Logs out; never throws (a run's result must not depend on a clean goodbye). */
  async close(): Promise<void> {
    try {
      await this.core.client.logout();
    } catch {
      this.core.client.close();
    }
  }
}
