import { parseSize } from '../../rules/units.ts';
import { defineMatchKey } from '../define.ts';

/** LARGER (RFC 3501 §6.4.4): RFC822.SIZE, the bytes with CRLF line ends, above this. */
export const larger = defineMatchKey({
  key: 'larger',
  schema: (kit) => kit.size.describe('Larger than this size.'),
  search: (value, query) => {
    query.larger = parseSize(value);
  },
  evaluate: (value, message) => ({ matched: message.size > parseSize(value), saw: `${message.size} bytes` }),
});
