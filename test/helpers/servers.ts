/**
 * The real IMAP servers the cross-server tests run against, each started fresh for a test file: Dovecot, Cyrus
 * with Debian's namespace and with its own defaults, and Courier. What differs between them is in README's
 * Servers section.
 */
import { startCourier } from './courier.ts';
import { startCyrus } from './cyrus.ts';
import { startDovecot } from './dovecot.ts';
import type { TestImapServer } from './imap-server.ts';

export interface RealServer {
  readonly name: string;
  readonly start: () => Promise<TestImapServer>;
}

export const REAL_SERVERS: readonly RealServer[] = [
  { name: 'Dovecot 2.3', start: async () => ({ ...(await startDovecot()), name: 'Dovecot 2.3' }) },
  { name: 'Cyrus 3.6 (INBOX. and .)', start: () => startCyrus({ namespace: 'inbox-dot' }) },
  { name: 'Cyrus 3.6 (altnamespace, /)', start: () => startCyrus({ namespace: 'alt-slash' }) },
  { name: 'Courier-IMAP 5', start: () => startCourier() },
];
