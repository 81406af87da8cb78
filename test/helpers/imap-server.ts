/**
 * What a test needs of any real IMAP server it starts (Dovecot, Cyrus, Courier), and the two things done the
 * same way on each, over IMAP: putting messages into a mailbox, and reading back what every mailbox holds.
 * Mailbox names here are mailsift's (`Finance/Invoices`), whatever the server's namespace makes of them.
 */
import { ImapFlow } from 'imapflow';
import type { ImapAccount } from '../../functions/imap/session.ts';
import type { MessageState, SeedMessage } from './dovecot.ts';

export interface TestImapServer {
  /** What the test names it by, e.g. `Cyrus 3.6 (INBOX. and .)`. */
  readonly name: string;
  readonly dir: string;
  readonly imapsPort: number;
  readonly imapPort: number;
  readonly certificate: string;
  readonly certificateFile: string;
  readonly keyFile: string;
  /** A fresh user with an empty INBOX; returns its name. */
  addUser(password?: string): string;
  account(user: string, overrides?: Partial<ImapAccount>): ImapAccount;
  seed(user: string, mailbox: string, messages: readonly SeedMessage[]): Promise<void> | void;
  stop(): Promise<void>;
}

/** A test user's account on 127.0.0.1 over implicit TLS, trusting the server's certificate; password `secret`. */
export function loopbackAccount(
  port: number,
  certificate: string,
  user: string,
  overrides: Partial<ImapAccount> = {},
): ImapAccount {
  return {
    host: '127.0.0.1',
    port,
    tls: 'implicit',
    user,
    password: 'secret',
    ca: certificate,
    ...overrides,
  };
}

const FLAG_LETTERS: Readonly<Record<string, string>> = {
  S: '\\Seen',
  F: '\\Flagged',
  R: '\\Answered',
  D: '\\Draft',
  T: '\\Deleted',
};

/** Logs in as `user` (password `secret` unless the account says otherwise) with imapflow. */
async function login(server: TestImapServer, user: string): Promise<ImapFlow> {
  const account = server.account(user);
  const client = new ImapFlow({
    host: '127.0.0.1',
    port: server.imapsPort,
    secure: true,
    auth: { user, pass: typeof account.password === 'string' ? account.password : 'secret' },
    tls: { ca: [server.certificate] },
    logger: false,
  });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** The personal namespace (RFC 2342) that maps mailsift's `A/B` to the server's name. */
function personal(client: ImapFlow): { prefix: string; delimiter: string } {
  const namespace = (client.namespaces as { personal?: { prefix: string; delimiter: string }[] } | undefined)
    ?.personal?.[0];
  return { prefix: namespace?.prefix ?? '', delimiter: namespace?.delimiter ?? '/' };
}

export function serverNameOf(client: ImapFlow, name: string): string {
  if (name.toUpperCase() === 'INBOX') return 'INBOX';
  const { prefix, delimiter } = personal(client);
  return prefix + name.split('/').join(delimiter);
}

function userNameOf(client: ImapFlow, path: string): string {
  if (path.toUpperCase() === 'INBOX') return 'INBOX';
  const { prefix, delimiter } = personal(client);
  const inside = path.startsWith(prefix) ? path.slice(prefix.length) : path;
  return inside.split(delimiter).join('/');
}

/** APPENDs messages in order (so UIDs follow it), with their flags and INTERNALDATE; creates the mailbox. */
export async function appendSeed(
  server: TestImapServer,
  user: string,
  mailbox: string,
  messages: readonly SeedMessage[],
): Promise<void> {
  const client = await login(server, user);
  try {
    const path = serverNameOf(client, mailbox);
    if (path !== 'INBOX') await client.mailboxCreate(path).catch(() => {});
    for (const message of messages) {
      const flags = [...(message.flags ?? '')].map((letter) => FLAG_LETTERS[letter] ?? letter);
      await client.append(path, message.raw, flags, message.internalDate);
    }
  } finally {
    await client.logout().catch(() => client.close());
  }
}

/** Every message of every mailbox of `user`, by mailsift's mailbox name, UIDs ascending. */
export async function imapState(server: TestImapServer, user: string): Promise<Map<string, MessageState[]>> {
  const client = await login(server, user);
  const state = new Map<string, MessageState[]>();
  try {
    for (const mailbox of await client.list()) {
      if (mailbox.flags.has('\\Noselect')) continue;
      const lock = await client.getMailboxLock(mailbox.path, { readOnly: true });
      try {
        const messages: MessageState[] = [];
        if ((client.mailbox || undefined)?.exists) {
          for await (const message of client.fetch('1:*', { uid: true, flags: true, envelope: true })) {
            messages.push({
              uid: message.uid,
              flags: [...(message.flags ?? [])].sort(),
              messageId: message.envelope?.messageId ?? '',
            });
          }
        }
        if (messages.length > 0)
          state.set(
            userNameOf(client, mailbox.path),
            messages.sort((a, b) => a.uid - b.uid),
          );
      } finally {
        lock.release();
      }
    }
  } finally {
    await client.logout().catch(() => client.close());
  }
  return state;
}
