import type { ServerBehaviour } from './fault-proxy.ts';

/**
 * Dovecot made to look like Gmail to a client: X-GM-EXT-1 in its capabilities (folders are labels there, and an
 * expunge from INBOX only takes the INBOX label off), CONDSTORE without QRESYNC. imapflow then asks for X-GM-MSGID in every FETCH, which
 * Dovecot does not know: the proxy takes it out again. Gmail's own search (`X-GM-RAW "has:attachment"`) it hands
 * to Dovecot as `TEXT "…"`: the query's words found in the message, which is what the tests' queries mean.
 */
export const GMAIL_LIKE: ServerBehaviour = {
  fromServer: (unit) =>
    unit.replace(
      /(\bCAPABILITY IMAP4rev1\b[^\]\r\n]*)/i,
      (capabilities: string) => `${capabilities.replace(/ QRESYNC\b/, '')} X-GM-EXT-1`,
    ),
  toServer: (line) => line.replace(/ X-GM-MSGID\b/g, '').replace(/\bX-GM-RAW /g, 'TEXT '),
};
