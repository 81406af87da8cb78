import { defineMatchKey } from '../define.ts';
import { flagVerdict } from '../key-kit.ts';

/** KEYWORD (RFC 3501 §6.4.4): the message carries this keyword (or flag). */
export const keyword = defineMatchKey({
  key: 'keyword',
  schema: (kit) => kit.flag.describe('Message carries this keyword.'),
  search: (value, query) => {
    query.keyword = value;
  },
  evaluate: (value, message) => flagVerdict(message.flags, value, true),
});
