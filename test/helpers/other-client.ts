/**
 * Another mail client working on a test mailbox between mailsift's runs, as a user's phone or a delivery agent
 * would: APPEND with a chosen INTERNALDATE, flag changes, moves, expunges, a mailbox deleted and created again.
 * Real IMAP (imapflow) against the test Dovecot, addressed by Message-ID so that a test says which message it means.
 */
import { ImapFlow } from 'imapflow';
import type { TestDovecot } from './dovecot.ts';

export interface OtherClient {
  deliver(
    mailbox: string,
    raw: string | Buffer,
    options?: { internalDate?: Date; flags?: string[] },
  ): Promise<void>;
  /** Adds or removes flags on the message with this Message-ID (`<id@test>`). */
  flags(mailbox: string, messageId: string, mode: 'add' | 'remove', flags: string[]): Promise<void>;
  move(from: string, messageId: string, to: string): Promise<void>;
  /** Marks the message `\Deleted` and expunges it (only it). */
  expunge(mailbox: string, messageId: string): Promise<void>;
  create(mailbox: string): Promise<void>;
  /** Deletes the mailbox and creates it again, empty: a new UIDVALIDITY. */
  recreate(mailbox: string): Promise<void>;
  close(): Promise<void>;
}

export async function otherClient(
  dovecot: Pick<TestDovecot, 'account' | 'certificate'>,
  user: string,
): Promise<OtherClient> {
  const account = dovecot.account(user);
  const client = new ImapFlow({
    host: account.host,
    port: account.port,
    secure: true,
    auth: { user: account.user, pass: account.password },
    tls: { ca: [dovecot.certificate] },
    logger: false,
  });
  client.on('error', () => {});
  await client.connect();
  const uidOf = async (mailbox: string, messageId: string): Promise<number> => {
    await client.mailboxOpen(mailbox);
    const found = await client.search({ header: { 'message-id': messageId } }, { uid: true });
    const uid = Array.isArray(found) ? found[0] : undefined;
    if (uid === undefined) throw new Error(`no ${messageId} in ${mailbox}`);
    return uid;
  };
  return {
    async deliver(mailbox, raw, options = {}) {
      await client.append(mailbox, raw, options.flags ?? [], options.internalDate);
    },
    async flags(mailbox, messageId, mode, flags) {
      const uid = await uidOf(mailbox, messageId);
      if (mode === 'add') await client.messageFlagsAdd(String(uid), flags, { uid: true });
      else await client.messageFlagsRemove(String(uid), flags, { uid: true });
    },
    async move(from, messageId, to) {
      await client.messageMove(String(await uidOf(from, messageId)), to, { uid: true });
    },
    async expunge(mailbox, messageId) {
      await client.messageDelete(String(await uidOf(mailbox, messageId)), { uid: true });
    },
    async create(mailbox) {
      await client.mailboxCreate(mailbox);
    },
    async recreate(mailbox) {
      if (client.mailbox && client.mailbox.path === mailbox) await client.mailboxClose();
      await client.mailboxDelete(mailbox);
      await client.mailboxCreate(mailbox);
    },
    async close() {
      await client.logout().catch(() => client.close());
    },
  };
}
