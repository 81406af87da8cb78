import { UsageError } from '../errors.ts';
import { type FetchMessageObject, type FetchQueryObject, ImapSession } from '../imap/session.ts';
import type { FactNeed } from '../match/define.ts';
import type { Envelope, MessageFacts } from '../match/facts.ts';
import { messageFacts } from '../match/message-file.ts';
import { withTokens } from '../oauth/tokens.ts';
import { loadAccountsFile, localSecretResolver } from '../secrets/local.ts';
import { openStateStore } from '../state/open-store.ts';

/** What reading a live message needs of the CLI: its environment, and a place to say what it fetches. */
export interface LiveIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  stderr(text: string): void;
}

/** One message of a live mailbox, and where to find the account's settings. */
export interface LiveTarget {
  readonly account: string;
  readonly mailbox: string;
  readonly uid: number;
  readonly accounts?: string;
  readonly parameters?: string;
  readonly state?: string;
}

/**
 * Reads one message of a live mailbox, read-only (EXAMINE): connects as a run does (accounts file, parameters,
 * OAuth2 tokens from the state), fetches `items`, logs out.
 * @throws UsageError when the accounts file is missing or no message has the UID
 */
export async function fetchLiveMessage(
  target: LiveTarget,
  items: FetchQueryObject,
  io: LiveIo,
): Promise<FetchMessageObject> {
  const accountsFile = target.accounts ?? io.env.MAILSIFT_ACCOUNTS;
  if (!accountsFile) throw new UsageError('no accounts file: pass --accounts FILE or set MAILSIFT_ACCOUNTS');
  const secrets = localSecretResolver(io.env, target.parameters ?? (io.env.MAILSIFT_PARAMETERS || undefined));
  // Tokens are kept even here: a rotated refresh token not kept would lock the account out.
  const state = await openStateStore(target.state, io.env);
  const account = withTokens(await loadAccountsFile(accountsFile).resolve(target.account, secrets), state);
  const session = await ImapSession.connect(account);
  try {
    await session.openMailbox(target.mailbox, true);
    const { messages } = await session.fetch([target.uid], { uid: true, ...items });
    const message = messages.find((each) => each.uid === target.uid);
    if (!message) throw new UsageError(`no message with UID ${target.uid} in ${target.mailbox}`);
    return message;
  } finally {
    await session.close();
  }
}

/**
 * The facts a rule's match needs of a live message: ENVELOPE, BODYSTRUCTURE, FLAGS, INTERNALDATE and RFC822.SIZE
 * always; the header block for header keys; the whole message only for `body` and `text`, said first.
 */
export async function fetchLiveFacts(
  target: LiveTarget,
  needs: ReadonlySet<FactNeed>,
  io: LiveIo,
): Promise<MessageFacts> {
  const whole = needs.has('body');
  if (whole) {
    io.stderr(
      `mailsift: fetching all of UID ${target.uid} (the rule's body or text condition reads the body)\n`,
    );
  }
  const message = await fetchLiveMessage(
    target,
    {
      envelope: true,
      bodyStructure: true,
      flags: true,
      internalDate: true,
      size: true,
      ...(whole ? { source: true } : needs.has('header') ? { headers: true } : {}),
    },
    io,
  );
  const file = message.source ? messageFacts(message.source) : undefined;
  return {
    envelope: (message.envelope ?? {}) as Envelope,
    bodyStructure: message.bodyStructure ?? { type: 'text/plain' },
    size: message.size ?? 0,
    internalDate: new Date(message.internalDate ?? 0),
    flags: message.flags ?? new Set(),
    ...(file?.header ? { header: file.header } : message.headers ? { header: message.headers } : {}),
    ...(file?.text ? { text: file.text } : {}),
  } as MessageFacts;
}
