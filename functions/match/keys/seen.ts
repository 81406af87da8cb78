import { defineMatchKey } from '../define.ts';
import { flagVerdict } from '../key-kit.ts';

/** SEEN or UNSEEN (RFC 3501 §6.4.4): the message carries \\Seen, or lacks it. */
export const seen = defineMatchKey({
  key: 'seen',
  schema: (kit) => kit.z.boolean(),
  search: (value, query) => {
    query.seen = value;
  },
  evaluate: (value, message) => flagVerdict(message.flags, '\\Seen', value),
});
