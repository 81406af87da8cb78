import type { ListOptions, ListResponse } from 'imapflow';
import { encodePath } from 'imapflow/lib/tools.js';
import { ImapActionError, MailboxNotFoundError } from '../errors.ts';
import { atom, execChecked } from './exec.ts';
import { isNonexistent, toActionError } from './imap-errors.ts';
import { serverName, userName } from './mailbox-names.ts';
import type { SessionCore } from './session-core.ts';

export interface MailboxInfo {
  readonly path: string;
  readonly uidValidity: bigint;
  readonly exists: number;
  /** UIDNEXT as the SELECT reported it: every message that arrives later gets a UID at least this. */
  readonly uidNext: number;
  /**
   * HIGHESTMODSEQ (RFC 7162 §3.1.2.1) where the server has CONDSTORE and the mailbox keeps mod-sequences: every
   * later change of a message's flags gives it a MODSEQ above this. Undefined otherwise ([NOMODSEQ]).
   */
  readonly highestModseq?: bigint;
  readonly readOnly: boolean;
  /**
   * Whether this call sent the SELECT: UIDNEXT and HIGHESTMODSEQ are as of now. False for the mailbox already
   * selected, whose values are as of its SELECT (imapflow updates them from only some later responses).
   */
  readonly justSelected: boolean;
  /** PERMANENTFLAGS; contains `\*` when any new keyword can be stored. */
  readonly permanentFlags: ReadonlySet<string>;
}

/**
 * SELECTs (or, read-only, EXAMINEs) a mailbox; the server then guarantees a read-only run changes nothing. The
 * mailbox already selected is not selected again (on Dovecot a SELECT of 10,000 messages costs about 150 ms).
 * @throws MailboxNotFoundError when the mailbox does not exist.
 */
export async function openMailbox(core: SessionCore, path: string, readOnly: boolean): Promise<MailboxInfo> {
  const { client } = core;
  const current = client.mailbox;
  const name = serverName(core, path);
  const select = !current || current.path !== name || Boolean(current.readOnly) !== readOnly;
  if (select) {
    core.saved.forget(); // RFC 5182 §2.1: SELECT and EXAMINE reset `$`
    core.modseqSeen.reset();
    try {
      await client.mailboxOpen(name, { readOnly });
    } catch (error) {
      const failure = toActionError(readOnly ? 'EXAMINE' : 'SELECT', error);
      if (isNonexistent(failure)) {
        throw new MailboxNotFoundError(`mailbox ${JSON.stringify(path)} does not exist`, { cause: error });
      }
      throw failure;
    }
  }
  const mailbox = client.mailbox;
  if (!mailbox) throw new ImapActionError(readOnly ? 'EXAMINE' : 'SELECT', { status: 'no mailbox selected' });
  return {
    path: userName(core, mailbox.path),
    uidValidity: BigInt(mailbox.uidValidity),
    exists: mailbox.exists,
    uidNext: mailbox.uidNext,
    ...(core.profile.condstore && !mailbox.noModseq && mailbox.highestModseq !== undefined
      ? { highestModseq: BigInt(mailbox.highestModseq) }
      : {}),
    readOnly: Boolean(mailbox.readOnly),
    justSelected: select,
    permanentFlags: new Set(mailbox.permanentFlags ?? []),
  };
}

/**
 * `STATUS` of UIDNEXT and UIDVALIDITY (RFC 3501 §6.3.10); undefined when the mailbox does not exist. Sent
 * raw: imapflow's status() follows a NO with a LIST and reports other failures as `false`.
 */
export async function mailboxStatus(
  core: SessionCore,
  path: string,
): Promise<{ uidNext: number; uidValidity: bigint } | undefined> {
  const values = new Map<string, string>();
  const collect = async (untagged: { attributes?: unknown[] }) => {
    const list = untagged.attributes?.[1];
    if (!Array.isArray(list)) return;
    for (let i = 0; i + 1 < list.length; i += 2) {
      const key = (list[i] as { value?: unknown }).value;
      const value = (list[i + 1] as { value?: unknown }).value;
      if (typeof key === 'string' && typeof value === 'string') values.set(key.toUpperCase(), value);
    }
  };
  try {
    await execChecked(
      core.client,
      'STATUS',
      [atom(encoded(core, path)), [atom('UIDNEXT'), atom('UIDVALIDITY')]],
      {
        untagged: { STATUS: collect },
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

/**
 * `CREATE`, then `SUBSCRIBE` unless told not to (so that clients showing subscribed folders show it). A mailbox
 * that exists already counts as success: [ALREADYEXISTS] (RFC 5530) says so, and after any other refusal a LIST
 * tells, since servers say it in words of their own (Cyrus "Mailbox already exists", Courier "Cannot create this
 * folder.") and another client may have created it a moment before us.
 */
export async function createMailbox(
  core: SessionCore,
  path: string,
  options: { subscribe?: boolean } = {},
): Promise<void> {
  try {
    if (options.subscribe === false) {
      await execChecked(core.client, 'CREATE', [atom(encoded(core, path))]);
    } else {
      await core.client.mailboxCreate(serverName(core, path));
    }
  } catch (error) {
    const failure = toActionError('CREATE', error);
    if (!(failure instanceof ImapActionError)) throw failure;
    if (failure.responseCode === 'ALREADYEXISTS' || (await mailboxExists(core, path))) return;
    throw failure;
  }
}

/** Whether `path` is a mailbox now (one `LIST`, without the LSUB imapflow would add). */
async function mailboxExists(core: SessionCore, path: string): Promise<boolean> {
  const wanted = serverName(core, path);
  const mailboxes = await listMailboxes(core, { listOnly: true });
  return mailboxes.some((mailbox) => mailbox.path === wanted);
}

/** `LIST` of every mailbox. */
export async function listMailboxes(core: SessionCore, options: ListOptions = {}): Promise<ListResponse[]> {
  try {
    return await core.client.list(options);
  } catch (error) {
    throw toActionError('LIST', error);
  }
}

/**
 * A mailbox name as the server writes it: its namespace and delimiter (mailbox-names.ts), modified UTF-7 (RFC
 * 3501 §5.1.3), quoted.
 */
export function encoded(core: SessionCore, path: string): string {
  return encodePath(core.client, serverName(core, path));
}
