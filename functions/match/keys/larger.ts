import { parseSize } from '../../rules/units.ts';
import { defineMatchKey } from '../define.ts';

/** LARGER (RFC 3501 §6.4.4): RFC822.SIZE, the bytes with CRLF line ends, above this. */
export const larger = defineMatchKey({
  key: 'larger',
  // A size of 0 is refused: imapflow leaves a zero LARGER out of the SEARCH, which would then select every message.
  schema: (kit) =>
    kit.size
      .refine(
        (value) => parseSize(value) >= 1,
        'expected a size of at least 1 byte: imapflow drops LARGER 0, and every message is larger than 0 anyway',
      )
      .describe('Larger than this size.'),
  search: (value, query) => {
    query.larger = parseSize(value);
  },
  evaluate: (value, message) => ({ matched: message.size > parseSize(value), saw: `${message.size} bytes` }),
});
