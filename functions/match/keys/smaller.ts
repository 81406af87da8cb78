import { parseSize } from '../../rules/units.ts';
import { defineMatchKey } from '../define.ts';

/** SMALLER (RFC 3501 §6.4.4): RFC822.SIZE below this. */
export const smaller = defineMatchKey({
  key: 'smaller',
  schema: (kit) => kit.size.describe('Smaller than this size.'),
  search: (value, query) => {
    query.smaller = parseSize(value);
  },
  evaluate: (value, message) => ({ matched: message.size < parseSize(value), saw: `${message.size} bytes` }),
});
