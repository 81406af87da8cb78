import type { ServerBehaviour } from './fault-proxy.ts';

/**
 * Dovecot made to look like Exchange Online / Microsoft 365 where keywords are concerned: PERMANENTFLAGS without
 * `\*` (`\Seen \Answered \Flagged \Deleted \Draft $MDNSent`), and a `SEARCH KEYWORD` or a STORE of any other
 * keyword answered `BAD Command Argument Error. 11`, as Exchange answers them.
 */
export const EXCHANGE_KEYWORDS: ServerBehaviour = {
  fromServer: (unit) =>
    unit.replace(
      /\[PERMANENTFLAGS \([^)]*\)\]/i,
      '[PERMANENTFLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)]',
    ),
  answer: (tag, line) => {
    const stored = /\bSTORE \S+ [+-]?FLAGS(?:\.SILENT)? \(([^)]*)\)/i.exec(line)?.[1] ?? '';
    const storesKeyword = stored
      .split(' ')
      .some((flag) => flag !== '' && !flag.startsWith('\\') && flag !== '$MDNSent');
    const searchesKeyword = /\bSEARCH\b.*\b(UN)?KEYWORD\b/i.test(line);
    return storesKeyword || searchesKeyword ? `${tag} BAD Command Argument Error. 11\r\n` : undefined;
  },
};

/** Exchange Online's capabilities after login (no CONDSTORE, QRESYNC, ESEARCH, SEARCHRES, WITHIN, SPECIAL-USE). */
const EXCHANGE_CAPABILITIES =
  'IMAP4 IMAP4rev1 AUTH=PLAIN SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+';

/** On-premises Exchange's default limit for one command line (MaxCommandSize), which Online is said to keep. */
export const EXCHANGE_MAX_LINE = 10_240;

/**
 * Dovecot made to look like Exchange Online in all that matters to mailsift: its greeting, its capabilities,
 * PERMANENTFLAGS without `\*` and keyword commands answered BAD (as EXCHANGE_KEYWORDS), and a command line longer
 * than EXCHANGE_MAX_LINE answered `BAD Command Error. 10`.
 */
export const EXCHANGE_ONLINE: ServerBehaviour = {
  fromServer: (unit) =>
    (EXCHANGE_KEYWORDS.fromServer?.(unit) ?? unit)
      .replace(/^\* OK .*Dovecot.*\r\n$/i, '* OK The Microsoft Exchange IMAP4 service is ready.\r\n')
      .replace(/\bCAPABILITY IMAP4rev1\b[^\]\r\n]*/i, `CAPABILITY ${EXCHANGE_CAPABILITIES}`),
  answer: (tag, line) =>
    Buffer.byteLength(line) > EXCHANGE_MAX_LINE
      ? `${tag} BAD Command Error. 10\r\n`
      : EXCHANGE_KEYWORDS.answer?.(tag, line),
};
