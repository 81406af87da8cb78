import { defineMatchKey } from '../define.ts';
import { substringVerdict, textOf } from '../key-kit.ts';

/** TEXT (RFC 3501 §6.4.4): a substring of the header blocks or the body, each searched as BODY does. */
export const text = defineMatchKey({
  key: 'text',
  schema: (kit) => kit.searchText.describe('Substring of headers or body.'),
  search: (value, query) => {
    query.text = value;
  },
  reads: 'body',
  evaluate: (value, message) => {
    const { headers, parts } = textOf(message, 'text');
    const verdict = substringVerdict([...headers, ...parts], value);
    return { ...verdict, saw: `${headers.length} header block(s), ${parts.length} body part(s)` };
  },
});
