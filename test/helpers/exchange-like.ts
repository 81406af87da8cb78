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
