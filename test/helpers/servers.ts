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
  /** What the run summary's `server` says about it: the facts that made mailsift take another way. */
  readonly facts?: Readonly<Record<string, boolean | number>>;
}

/** Courier-IMAP 5 as Debian configures it: no MOVE, CONDSTORE, SEARCHRES, WITHIN or SPECIAL-USE. */
const COURIER_FACTS = { move: false, condstore: false, searchRes: false, within: false, specialUse: false };

export const REAL_SERVERS: readonly RealServer[] = [
  { name: 'Dovecot 2.3', start: async () => ({ ...(await startDovecot()), name: 'Dovecot 2.3' }) },
  {
    name: 'Cyrus 3.6 (INBOX. and .)',
    start: () => startCyrus({ namespace: 'inbox-dot' }),
    facts: { searchRes: false },
  },
  {
    name: 'Cyrus 3.6 (altnamespace, /)',
    start: () => startCyrus({ namespace: 'alt-slash' }),
    facts: { searchRes: false },
  },
  { name: 'Courier-IMAP 5', start: () => startCourier(), facts: COURIER_FACTS },
];
