import { parseSize } from '../../rules/units.ts';
import { defineMatchKey } from '../define.ts';

/** SMALLER (RFC 3501 §6.4.4): RFC822.SIZE below this. */
export const smaller = defineMatchKey({
  key: 'smaller',
  // A size of 0 is refused: imapflow leaves a zero SMALLER out of the SEARCH, which would then select every message.
  schema: (kit) =>
    kit.size
      .refine(
        (value) => parseSize(value) >= 1,
        'expected a size of at least 1 byte: no message is smaller than 0',
      )
      .describe('Smaller than this size.'),
  search: (value, query) => {
    query.smaller = parseSize(value);
  },
  evaluate: (value, message) => ({ matched: message.size < parseSize(value), saw: `${message.size} bytes` }),
});
