import { defineMatchKey } from '../define.ts';
import { flagVerdict } from '../key-kit.ts';

/** UNKEYWORD (RFC 3501 §6.4.4): the message does not carry this keyword. */
export const notKeyword = defineMatchKey({
  key: 'notKeyword',
  schema: (kit) => kit.flag.describe('Message does not carry this keyword.'),
  search: (value, query) => {
    query.unKeyword = value;
  },
  evaluate: (value, message) => flagVerdict(message.flags, value, false),
});
