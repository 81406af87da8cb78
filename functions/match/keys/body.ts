import { defineMatchKey } from '../define.ts';
import { substringVerdict, textOf } from '../key-kit.ts';

/**
 * BODY (RFC 3501 §6.4.4): a substring of the body. As Dovecot does it, each text/ or message/ leaf is searched on
 * its own, decoded (transfer encoding and charset), HTML as written; other attachments and header blocks are not.
 */
export const body = defineMatchKey({
  key: 'body',
  schema: (kit) => kit.searchText.describe('Substring of the body.'),
  search: (value, query) => {
    query.body = value;
  },
  reads: 'body',
  evaluate: (value, message) => {
    const verdict = substringVerdict(textOf(message, 'body').parts, value);
    return { ...verdict, saw: `${textOf(message, 'body').parts.length} body part(s)` };
  },
});
