import type { ServerBehaviour } from './fault-proxy.ts';

/**
 * Dovecot made to look like Gmail to a client: X-GM-EXT-1 in its capabilities (folders are labels there, and an
 * expunge from INBOX only takes the INBOX label off). imapflow then asks for X-GM-MSGID in every FETCH, which
 * Dovecot does not know: the proxy takes it out again.
 */
export const GMAIL_LIKE: ServerBehaviour = {
  fromServer: (unit) => unit.replace(/(\bCAPABILITY IMAP4rev1\b[^\]\r\n]*)/i, '$1 X-GM-EXT-1'),
  toServer: (line) => line.replace(/ X-GM-MSGID\b/g, ''),
};
