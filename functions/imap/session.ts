import { rootCertificates } from 'node:tls';
import { type FetchMessageObject, type FetchQueryObject, ImapFlow, type SearchObject } from 'imapflow';
import { encodePath, getStatusCode, normalizePath } from 'imapflow/lib/tools.js';
import {
  CapabilityError,
  ImapActionError,
  ImapAuthError,
  ImapConnectError,
  ImapTlsError,
  MailboxNotFoundError,
} from '../errors.ts';
import { chunkUidSet, chunkUids, expandUidSetAtMost } from './uid-set.ts';

export type { FetchMessageObject, FetchQueryObject, SearchObject };

/** How to reach and log in to one IMAP account. Built from an accounts file or a secret store. */
export interface ImapAccount {
  readonly host: string;
  readonly port: number;
  /** `implicit`: TLS from the first byte (993). `starttls`: plain connect, then STARTTLS is required. */
  readonly tls: 'implicit' | 'starttls';
  readonly user: string;
  readonly password: string;
  /** Extra trusted CA certificate(s), PEM, added to the system roots. */
  readonly ca?: string;
}

export interface SessionTimeouts {
  /** TCP + TLS connect. */
  readonly connectMs: number;
  /** Server greeting after connect. */
  readonly greetingMs: number;
  /** Longest silence while a command is running. imapflow's own default is 5 minutes. */
  readonly socketMs: number;
}

export const DEFAULT_TIMEOUTS: SessionTimeouts = { connectMs: 15_000, greetingMs: 15_000, socketMs: 60_000 };

/**
 * Largest literal we accept from the server. imapflow's default is 1 GB; we only ever fetch headers
 * and BODYSTRUCTURE, so a much smaller cap bounds memory against a broken or hostile server.
 */
const MAX_LITERAL_BYTES = 64 * 1024 * 1024;

const TLS_ERROR_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);

const TIMEOUT_CODES = new Set([
  'ETIMEOUT',
  'ETIMEDOUT',
  'GREETING_TIMEOUT',
  'CONNECT_TIMEOUT',
  'UPGRADE_TIMEOUT',
]);

export interface MailboxInfo {
  readonly path: string;
  readonly uidValidity: bigint;
  readonly exists: number;
  readonly readOnly: boolean;
  /** PERMANENTFLAGS; contains `\*` when any new keyword can be stored. */
  readonly permanentFlags: ReadonlySet<string>;
}

/** The internal parts of imapflow we rely on; `exec` is the primitive its own commands are built from. */
interface ImapFlowInternals {
  exec(
    command: string,
    attributes: unknown[],
    options?: unknown,
  ): Promise<{ response: { attributes?: unknown[] }; next: () => void }>;
}

/** What imapflow's logger tells us about the wire: the commands sent and the last failure it swallowed. */
interface WireRecord {
  commands: string[];
  /** The start of each UID command line (never a LOGIN or AUTHENTICATE line), for tests and debugging. */
  uidCommandLines: string[];
  lastWarning: unknown;
  /** Why we closed the connection ourselves: what the server did that no honest server does. */
  violation?: string;
}

/**
 * Set together with `\Deleted` when we expunge: marks an expunge of ours that a lost connection may have
 * interrupted, as opposed to messages another client marked `\Deleted` (which we never expunge).
 */
export const EXPUNGE_PENDING_KEYWORD = '$mailsift-expunging';

/** How much of a UID command line `uidCommandLines` keeps. */
const COMMAND_LINE_RECORD_LENGTH = 80;

interface ImapFlowCommandError extends Error {
  responseStatus?: string;
  responseText?: string;
  response?: unknown;
  serverResponseCode?: string;
  authenticationFailed?: boolean;
  tlsFailed?: boolean;
  code?: string;
}

/**
 * One logged-in IMAP connection. The only module that talks to imapflow, so that its traps
 * (opportunistic STARTTLS, unchunked UID sets, hidden TRYCREATE, bare EXPUNGE) are handled in one place.
 */
export class ImapSession {
  private readonly client: ImapFlow;
  private readonly wire: WireRecord;
  private trashPath: string | undefined;
  /**
   * The UIDs of the last SEARCH saved on the server as `$` (RFC 5182), while `$` still names exactly them:
   * forgotten when another mailbox is selected (which resets `$`) and once messages were expunged.
   */
  private savedResult: readonly number[] | undefined;

  private constructor(client: ImapFlow, wire: WireRecord) {
    this.client = client;
    this.wire = wire;
  }

  /** Every command sent on this connection, by name (`UID SEARCH`, `UID MOVE`, …), in order. */
  get commands(): readonly string[] {
    return this.wire.commands;
  }

  /** The first characters of every UID command line sent (`3 UID MOVE $ Archive`, …), in order. */
  get uidCommandLines(): readonly string[] {
    return this.wire.uidCommandLines;
  }

  /**
   * Connects, secures and logs in.
   * @throws ImapConnectError, ImapTlsError or ImapAuthError; none of them carries the password.
   */
  static async connect(
    account: ImapAccount,
    timeouts: SessionTimeouts = DEFAULT_TIMEOUTS,
  ): Promise<ImapSession> {
    const wire: WireRecord = { commands: [], uidCommandLines: [], lastWarning: undefined };
    const client = new ImapFlow({
      host: account.host,
      port: account.port,
      secure: account.tls === 'implicit',
      // imapflow treats STARTTLS as opportunistic unless told otherwise; a downgrade must fail instead.
      ...(account.tls === 'starttls' ? { doSTARTTLS: true } : {}),
      auth: { user: account.user, pass: account.password },
      tls: {
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        ...(account.ca ? { ca: [...rootCertificates, account.ca] } : {}),
      },
      connectionTimeout: timeouts.connectMs,
      greetingTimeout: timeouts.greetingMs,
      socketTimeout: timeouts.socketMs,
      maxLiteralSize: MAX_LITERAL_BYTES,
      disableAutoIdle: true,
      disableCompression: true,
      disableAutoEnable: true,
      clientInfo: { name: 'mailsift' },
      logger: {
        debug: (entry: { src?: string; msg?: string }) => {
          // STARTTLS takes no continuation (RFC 3501 §6.2.1): a "+" answer would leave the command waiting
          // for the socket timeout, so end it now.
          if (entry.src === 's' && entry.msg?.startsWith('+') && wire.commands.at(-1) === 'STARTTLS') {
            refuse('answered STARTTLS with a continuation request (+)');
          }
          // A PREAUTH greeting starts an authenticated session in the clear, where STARTTLS is no longer
          // allowed (RFC 3501 §7.1.4): taking it would skip TLS.
          if (entry.src === 's' && /^\* PREAUTH\b/i.test(entry.msg ?? '') && account.tls === 'starttls') {
            refuse('greeted with PREAUTH, an unencrypted session that would skip STARTTLS');
          }
          // imapflow logs each command it writes as "<tag> <COMMAND> …" (credentials masked).
          if (entry.src === 'c' && typeof entry.msg === 'string' && !entry.msg.startsWith('(*')) {
            const name = commandName(entry.msg);
            wire.commands.push(name);
            if (name.startsWith('UID '))
              wire.uidCommandLines.push(entry.msg.slice(0, COMMAND_LINE_RECORD_LENGTH));
          }
        },
        info: () => {},
        warn: (entry: { err?: unknown }) => {
          // imapflow reports some failures only here, returning false from the command itself.
          if (entry?.err) wire.lastWarning = entry.err;
        },
        error: () => {},
      },
    } as ConstructorParameters<typeof ImapFlow>[0]);
    /** Ends the connection over something no honest server does; `connect` then reports `reason`. */
    function refuse(reason: string): void {
      wire.violation = reason;
      setImmediate(() => client.close());
    }
    // An 'error' event without a listener would kill the process; failures surface through the
    // promise of the command that was running instead.
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (error) {
      client.close();
      if (wire.violation) {
        throw new ImapTlsError(
          `STARTTLS is required for ${account.host}:${account.port} but the server ${wire.violation}; ` +
            'no credentials were sent',
        );
      }
      // A BYE's reason is the server's own word on why it hung up: worth showing, as quoted data.
      const bye = (client as unknown as { byeReason?: string }).byeReason;
      throw classifyConnectError(error as ImapFlowCommandError, account, bye);
    }
    if (
      account.tls === 'starttls' &&
      !(client as unknown as { secureConnection: boolean }).secureConnection
    ) {
      // Defence in depth: whatever path imapflow took, a STARTTLS account never runs in the clear.
      client.close();
      throw new ImapTlsError(
        `STARTTLS is required for ${account.host}:${account.port} but the session is not encrypted`,
      );
    }
    return new ImapSession(client, wire);
  }

  hasCapability(name: string): boolean {
    return this.client.capabilities.has(name);
  }

  /**
   * SELECTs (or, read-only, EXAMINEs) a mailbox; the server then guarantees a read-only run changes nothing.
   * @throws MailboxNotFoundError when the mailbox does not exist.
   */
  async openMailbox(path: string, readOnly: boolean): Promise<MailboxInfo> {
    const current = this.client.mailbox;
    if (!current || current.path !== path || Boolean(current.readOnly) !== readOnly) {
      this.savedResult = undefined; // RFC 5182 §2.1: SELECT and EXAMINE reset `$`
      try {
        await this.client.mailboxOpen(path, { readOnly });
      } catch (error) {
        const failure = toActionError(readOnly ? 'EXAMINE' : 'SELECT', error);
        if (isNonexistent(failure)) {
          throw new MailboxNotFoundError(`mailbox ${JSON.stringify(path)} does not exist`, { cause: error });
        }
        throw failure;
      }
    }
    const mailbox = this.client.mailbox;
    if (!mailbox)
      throw new ImapActionError(readOnly ? 'EXAMINE' : 'SELECT', { status: 'no mailbox selected' });
    return {
      path: mailbox.path,
      uidValidity: BigInt(mailbox.uidValidity),
      exists: mailbox.exists,
      readOnly: Boolean(mailbox.readOnly),
      permanentFlags: new Set(mailbox.permanentFlags ?? []),
    };
  }

  /**
   * `UID SEARCH` in the selected mailbox; UIDs ascending. With `save`, on a server with SEARCHRES and
   * ESEARCH, the result is also kept on the server as `$` (`RETURN (SAVE ALL)`, RFC 5182), and later
   * commands on exactly these UIDs send `$`: one short line, whatever the number of matches.
   * @throws ImapActionError
   */
  async searchUids(query: SearchObject, options: { save?: boolean } = {}): Promise<number[]> {
    this.wire.lastWarning = undefined;
    if (options.save && this.hasCapability('SEARCHRES') && this.hasCapability('ESEARCH')) {
      const result = await this.client.search(query, {
        uid: true,
        returnOptions: ['SAVE', 'ALL'] as unknown as ['ALL'],
      });
      if (!result || Array.isArray(result)) throw toActionError('UID SEARCH', this.wire.lastWarning);
      // A result can name no more messages than the mailbox holds; a server claiming more is broken or hostile.
      const uids = result.all
        ? expandUidSetAtMost(result.all, this.client.mailbox ? this.client.mailbox.exists : 0)
        : [];
      if (!uids) throw new ImapActionError('UID SEARCH', { status: 'a result larger than the mailbox' });
      this.savedResult = uids.sort((a, b) => a - b);
      return [...this.savedResult];
    }
    const result = await this.client.search(query, { uid: true });
    if (!result) throw toActionError('UID SEARCH', this.wire.lastWarning);
    return [...(result as number[])].sort((a, b) => a - b);
  }

  /**
   * `UID FETCH` of just `items` for `uids`, chunked. Collected into an array before returning: issuing a
   * command while imapflow's fetch iterator is open deadlocks the connection. `unreadable` lists the UIDs
   * the server returned nothing usable for: expunged meanwhile, or a response imapflow refuses to parse (it
   * drops, without a word, a BODYSTRUCTURE nested deeper than 25 levels).
   */
  async fetch(
    uids: readonly number[],
    items: FetchQueryObject,
  ): Promise<{ messages: FetchMessageObject[]; unreadable: number[] }> {
    const messages: FetchMessageObject[] = [];
    for (const set of chunkUidSet(uids)) {
      try {
        messages.push(...(await this.client.fetchAll(set, { ...items, uid: true }, { uid: true })));
      } catch (error) {
        throw toActionError('UID FETCH', error);
      }
    }
    const returned = new Set(messages.map((message) => message.uid));
    return { messages, unreadable: uids.filter((uid) => !returned.has(uid)) };
  }

  /**
   * `UID FETCH from:*` of `items`: the messages that arrived since a mailbox's UIDNEXT was `from`. (`n:*` names
   * the last message even when its UID is below `n`, RFC 3501 §6.4.8; that one is left out.)
   */
  async fetchFrom(from: number, items: FetchQueryObject): Promise<FetchMessageObject[]> {
    if (!this.client.mailbox || this.client.mailbox.exists === 0) return [];
    try {
      const messages = await this.client.fetchAll(`${from}:*`, { ...items, uid: true }, { uid: true });
      return messages.filter((message) => message.uid >= from);
    } catch (error) {
      throw toActionError('UID FETCH', error);
    }
  }

  /**
   * `STATUS` of UIDNEXT and UIDVALIDITY (RFC 3501 §6.3.10); undefined when the mailbox does not exist. Sent
   * raw: imapflow's status() follows a NO with a LIST and reports other failures as `false`.
   */
  async mailboxStatus(path: string): Promise<{ uidNext: number; uidValidity: bigint } | undefined> {
    const values = new Map<string, string>();
    try {
      await this.execChecked(
        'STATUS',
        [
          { type: 'ATOM', value: encodePath(this.client, normalizePath(this.client, path)) },
          [
            { type: 'ATOM', value: 'UIDNEXT' },
            { type: 'ATOM', value: 'UIDVALIDITY' },
          ],
        ],
        {
          untagged: {
            STATUS: async (untagged: { attributes?: unknown[] }) => {
              const list = untagged.attributes?.[1];
              if (!Array.isArray(list)) return;
              for (let i = 0; i + 1 < list.length; i += 2) {
                const key = (list[i] as { value?: unknown }).value;
                const value = (list[i + 1] as { value?: unknown }).value;
                if (typeof key === 'string' && typeof value === 'string')
                  values.set(key.toUpperCase(), value);
              }
            },
          },
        },
      );
    } catch (error) {
      if (isNonexistent(error)) return undefined;
      throw error;
    }
    const uidNext = Number(values.get('UIDNEXT'));
    const uidValidity = values.get('UIDVALIDITY');
    if (!Number.isInteger(uidNext) || uidNext < 1 || !uidValidity || !/^\d+$/.test(uidValidity)) {
      throw new ImapActionError('STATUS', { status: 'no UIDNEXT and UIDVALIDITY in the answer' });
    }
    return { uidNext, uidValidity: BigInt(uidValidity) };
  }

  /** `FETCH 1:*` of `items` in the selected mailbox: only for small mailboxes of our own (not chunked). */
  async fetchEvery(items: FetchQueryObject): Promise<FetchMessageObject[]> {
    if (!this.client.mailbox || this.client.mailbox.exists === 0) return [];
    try {
      return await this.client.fetchAll('1:*', { ...items, uid: true });
    } catch (error) {
      throw toActionError('FETCH', error);
    }
  }

  /**
   * `APPEND` of `content` to `path`, creating the mailbox (unsubscribed: it is ours, not the user's) once if
   * the server answers [TRYCREATE]. Returns the new message's UID where the server tells it (APPENDUID,
   * RFC 4315 §3).
   */
  async appendMessage(path: string, content: string, flags: readonly string[]): Promise<number | undefined> {
    let uid: number | undefined;
    await this.creatingOnTryCreate(path, { subscribe: false }, async () => {
      try {
        const appended = await this.client.append(path, content, [...flags]);
        uid = appended && typeof appended.uid === 'number' ? appended.uid : undefined;
      } catch (error) {
        throw toActionError('APPEND', error);
      }
    });
    return uid;
  }

  /**
   * Deletes `uids` from the selected mailbox, which must hold only messages of ours: without UIDPLUS the
   * plain EXPUNGE removes every `\Deleted` message in it.
   */
  async removeOwnMessages(uids: readonly number[]): Promise<void> {
    if (uids.length === 0) return;
    await this.storeFlags(uids, 'add', ['\\Deleted']);
    if (this.hasCapability('UIDPLUS')) {
      await this.uidExpunge(chunkUidSet(uids));
    } else {
      await this.execChecked('EXPUNGE', []);
    }
    this.savedResult = undefined;
  }

  /**
   * `UID STORE ±FLAGS.SILENT`, chunked. Refuses keywords the mailbox cannot keep: imapflow would silently
   * drop them and report success.
   * @throws CapabilityError, ImapActionError
   */
  async storeFlags(uids: readonly number[], mode: 'add' | 'remove', flags: readonly string[]): Promise<void> {
    if (mode === 'add') this.assertCanStore(flags);
    const operation = mode === 'add' ? '+FLAGS.SILENT' : '-FLAGS.SILENT';
    for (const set of this.uidSets(uids)) {
      await this.execChecked('UID STORE', [
        { type: 'SEQUENCE', value: set },
        { type: 'ATOM', value: operation },
        flags.map((flag) => ({ type: 'ATOM', value: flag })),
      ]);
    }
  }

  /**
   * Expunges the messages of the selected mailbox that an earlier run marked for expunging (`\Deleted` and
   * EXPUNGE_PENDING_KEYWORD, set in one STORE) but lost the connection before its `UID EXPUNGE`. Messages
   * other clients marked `\Deleted` lack the keyword and are never touched. Returns how many it expunged.
   */
  async finishInterruptedExpunges(): Promise<number> {
    if (!this.hasCapability('UIDPLUS') || !this.canStore(EXPUNGE_PENDING_KEYWORD)) return 0;
    const pending = await this.searchUids({ deleted: true, keyword: EXPUNGE_PENDING_KEYWORD });
    await this.uidExpunge(chunkUidSet(pending));
    return pending.length;
  }

  /** Whether the selected mailbox keeps `flag` (PERMANENTFLAGS lists it, or `\*` for any keyword). */
  private canStore(flag: string): boolean {
    const permanent = this.client.mailbox ? this.client.mailbox.permanentFlags : undefined;
    return Boolean(permanent && (permanent.has('\\*') || permanent.has(flag)));
  }

  /**
   * Whether the selected mailbox keeps these flags (PERMANENTFLAGS lists them, or `\\*` for any keyword).
   * @throws CapabilityError naming the flags it would drop.
   */
  assertCanStore(flags: readonly string[]): void {
    const mailbox = this.client.mailbox;
    if (!mailbox) return;
    const unstorable = flags.filter((flag) => !this.canStore(flag));
    if (unstorable.length > 0) {
      throw new CapabilityError(
        `mailbox ${JSON.stringify(mailbox.path)} cannot store ${unstorable.join(', ')} ` +
          `(its PERMANENTFLAGS are ${[...(mailbox.permanentFlags ?? [])].join(' ') || 'empty'})`,
      );
    }
  }

  /** `UID COPY` to `destination`, creating it once if the server answers [TRYCREATE]. */
  async copyMessages(uids: readonly number[], destination: string): Promise<void> {
    await this.transfer('UID COPY', uids, destination);
  }

  /**
   * Moves `uids` to `destination`: `UID MOVE` (RFC 6851) when offered, else COPY, then `\Deleted` and
   * `UID EXPUNGE` (RFC 4315) of exactly these UIDs, the source marked only after the copy succeeded. Without
   * MOVE, `alreadyCopied` (UIDs whose copy an interrupted earlier run left in `destination`) are not copied
   * again, only removed.
   * @throws CapabilityError when neither MOVE nor UIDPLUS is offered (a bare EXPUNGE could remove
   * messages another client marked `\Deleted`).
   */
  async moveMessages(
    uids: readonly number[],
    destination: string,
    options: { alreadyCopied?: ReadonlySet<number> } = {},
  ): Promise<void> {
    if (this.hasCapability('MOVE')) {
      await this.transfer('UID MOVE', uids, destination);
      this.savedResult = undefined; // the moved messages left `$`
      return;
    }
    this.requireUidPlus('move');
    const copied = options.alreadyCopied ?? new Set<number>();
    for (const chunk of this.isSavedResult(uids) ? [uids] : chunkUids(uids)) {
      const toCopy = copied.size > 0 ? chunk.filter((uid) => !copied.has(uid)) : chunk;
      if (toCopy.length > 0) await this.transfer('UID COPY', toCopy, destination);
      await this.expungeUids(chunk);
    }
  }

  /**
   * Marks `uids` `\Deleted` and expunges exactly them with `UID EXPUNGE`. The same STORE adds
   * EXPUNGE_PENDING_KEYWORD where the mailbox keeps keywords, so that an expunge a lost connection
   * interrupted can be told from other clients' deletions and finished later (`finishInterruptedExpunges`).
   * @throws CapabilityError without UIDPLUS.
   */
  async expungeUids(uids: readonly number[]): Promise<void> {
    this.requireUidPlus('expunge');
    const marks = this.canStore(EXPUNGE_PENDING_KEYWORD)
      ? ['\\Deleted', EXPUNGE_PENDING_KEYWORD]
      : ['\\Deleted'];
    await this.storeFlags(uids, 'add', marks);
    await this.uidExpunge(this.uidSets(uids));
    this.savedResult = undefined; // the expunged messages left `$`
  }

  /**
   * The mailbox with SPECIAL-USE `\Trash` (RFC 6154), else one named Trash, created when missing unless
   * `create` is false (a dry run).
   */
  async findTrash(create = true): Promise<string> {
    if (this.trashPath) return this.trashPath;
    let mailboxes: Awaited<ReturnType<ImapFlow['list']>>;
    try {
      mailboxes = await this.client.list();
    } catch (error) {
      throw toActionError('LIST', error);
    }
    const special = mailboxes.find((mailbox) => mailbox.specialUse === '\\Trash');
    const named = mailboxes.find((mailbox) => mailbox.path.toLowerCase() === 'trash');
    this.trashPath = special?.path ?? named?.path ?? 'Trash';
    if (!special && !named && create) await this.createMailbox(this.trashPath);
    return this.trashPath;
  }

  /**
   * `CREATE`, then `SUBSCRIBE` unless told not to (so that clients showing subscribed folders show it); an
   * existing mailbox ([ALREADYEXISTS]) counts as success.
   */
  async createMailbox(path: string, options: { subscribe?: boolean } = {}): Promise<void> {
    try {
      if (options.subscribe === false) {
        await this.execChecked('CREATE', [
          { type: 'ATOM', value: encodePath(this.client, normalizePath(this.client, path)) },
        ]);
      } else {
        await this.client.mailboxCreate(path);
      }
    } catch (error) {
      const failure = toActionError('CREATE', error);
      if (!(failure instanceof ImapActionError) || failure.responseCode !== 'ALREADYEXISTS') throw failure;
    }
  }

  /** Logs out; never throws (a run's result must not depend on a clean goodbye). */
  async close(): Promise<void> {
    try {
      await this.client.logout();
    } catch {
      this.client.close();
    }
  }

  /**
   * Whether messages can be removed from a mailbox without touching others: MOVE or UIDPLUS.
   * @throws CapabilityError when they cannot.
   */
  assertCanRemove(what: 'move' | 'expunge'): void {
    if (what === 'move' && this.hasCapability('MOVE')) return;
    this.requireUidPlus(what);
  }

  private requireUidPlus(what: string): void {
    if (!this.hasCapability('UIDPLUS')) {
      throw new CapabilityError(
        `cannot ${what} safely: the server offers neither MOVE nor UIDPLUS, and a plain EXPUNGE would also ` +
          'remove messages that other clients marked \\Deleted',
      );
    }
  }

  /** Whether `uids` are exactly the saved search result, so that `$` names them. */
  private isSavedResult(uids: readonly number[]): boolean {
    const saved = this.savedResult;
    return saved !== undefined && saved.length === uids.length && saved.every((uid, i) => uid === uids[i]);
  }

  /** The UID sets to send for `uids`: `$` when it names exactly them, else ranges chunked by line length. */
  private uidSets(uids: readonly number[]): string[] {
    return this.isSavedResult(uids) ? ['$'] : chunkUidSet(uids);
  }

  private async transfer(command: 'UID COPY' | 'UID MOVE', uids: readonly number[], destination: string) {
    const path = normalizePath(this.client, destination);
    for (const set of this.uidSets(uids)) {
      const attributes = [
        { type: 'SEQUENCE', value: set },
        { type: 'ATOM', value: encodePath(this.client, path) },
      ];
      await this.creatingOnTryCreate(path, {}, () => this.execChecked(command, attributes));
    }
  }

  /**
   * Runs `attempt`; when the server answers [TRYCREATE], the target does not exist and may be created
   * (RFC 3501 §6.3.11 APPEND, §6.4.7 COPY): creates `path` and tries once more.
   */
  private async creatingOnTryCreate(
    path: string,
    create: { subscribe?: boolean },
    attempt: () => Promise<void>,
  ): Promise<void> {
    try {
      await attempt();
    } catch (error) {
      if (!(error instanceof ImapActionError) || error.responseCode !== 'TRYCREATE') throw error;
      await this.createMailbox(path, create);
      await attempt();
    }
  }

  /** `UID EXPUNGE` (RFC 4315) of each of `sets`: exactly those messages, never others marked `\Deleted`. */
  private async uidExpunge(sets: readonly string[]): Promise<void> {
    for (const set of sets) await this.execChecked('UID EXPUNGE', [{ type: 'SEQUENCE', value: set }]);
  }

  /** Sends a raw command; `options` are imapflow's (e.g. handlers for untagged responses). */
  private async execChecked(command: string, attributes: unknown[], options?: unknown): Promise<void> {
    let response: Awaited<ReturnType<ImapFlowInternals['exec']>>;
    try {
      response = await (this.client as unknown as ImapFlowInternals).exec(command, attributes, options);
    } catch (error) {
      throw toActionError(command, error);
    }
    // imapflow holds its command queue until the response is released.
    response.next();
  }
}

function commandName(logged: string): string {
  const words = logged.split(' ');
  const first = (words[1] ?? '').toUpperCase();
  return first === 'UID' ? `UID ${(words[2] ?? '').toUpperCase()}` : first;
}

function statusCodeOf(error: unknown): string | undefined {
  const err = error as ImapFlowCommandError | undefined;
  if (!err) return undefined;
  if (err.serverResponseCode) return err.serverResponseCode;
  const code =
    err.response && typeof err.response === 'object' ? getStatusCode(err.response as never) : false;
  return code || undefined;
}

/** A failure over a mailbox that does not exist: [NONEXISTENT] (RFC 5530), or Dovecot's words without a code. */
function isNonexistent(error: unknown): boolean {
  if (!(error instanceof ImapActionError)) return false;
  return (
    error.responseCode === 'NONEXISTENT' ||
    /doesn't exist|does not exist|not found/i.test(error.serverText ?? '')
  );
}

function textOf(error: unknown): string {
  const err = error as ImapFlowCommandError | undefined;
  return err?.responseText ?? (typeof err?.response === 'string' ? err.response : '') ?? '';
}

function toActionError(command: string, error: unknown): Error {
  if (error instanceof ImapActionError || error instanceof CapabilityError) return error;
  const err = error as ImapFlowCommandError | undefined;
  if (err && !err.responseStatus && (err.code === 'NoConnection' || err.code === 'EConnectionClosed')) {
    return new ImapConnectError(`connection lost during ${command}`, { cause: error });
  }
  return new ImapActionError(
    command,
    {
      status: err?.responseStatus ?? (err?.code ? `error ${err.code}` : undefined),
      responseCode: statusCodeOf(error),
      serverText: textOf(error) || undefined,
    },
    { cause: error },
  );
}

function classifyConnectError(error: ImapFlowCommandError, account: ImapAccount, bye?: string): Error {
  const where = `${account.host}:${account.port}`;
  const code = error.code ?? '';
  if (error.authenticationFailed || statusCodeOf(error) === 'AUTHENTICATIONFAILED') {
    const serverText = textOf(error);
    return new ImapAuthError(
      `login to ${where} as ${JSON.stringify(account.user)} was rejected` +
        `${serverText ? `: ${JSON.stringify(serverText)}` : ''}; check the account's user and password`,
    );
  }
  if (error.tlsFailed) {
    return new ImapTlsError(
      `STARTTLS is required for ${where} but could not be established (${error.message}); ` +
        'no credentials were sent',
    );
  }
  if (TIMEOUT_CODES.has(code)) {
    return new ImapConnectError(
      `${where} did not answer in time (${code}); the run gave up instead of waiting`,
    );
  }
  if (TLS_ERROR_CODES.has(code) || code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS')) {
    return new ImapTlsError(
      `TLS with ${where} failed: ${code || error.message}` +
        (code.includes('CERT') || code.includes('ALTNAME')
          ? '; the certificate is not trusted for this host (name the server CA in the account as ca)'
          : ''),
    );
  }
  const said = bye ? `; the server said BYE ${JSON.stringify(bye)}` : '';
  return new ImapConnectError(`cannot connect to ${where}: ${code || error.message}${said}`);
}
