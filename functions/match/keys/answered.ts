import { defineMatchKey } from '../define.ts';
import { flagVerdict } from '../key-kit.ts';

/** ANSWERED or UNANSWERED (RFC 3501 §6.4.4): the message carries \\Answered, or lacks it. */
export const answered = defineMatchKey({
  key: 'answered',
  schema: (kit) => kit.z.boolean(),
  search: (value, query) => {
    query.answered = value;
  },
  evaluate: (value, message) => flagVerdict(message.flags, '\\Answered', value),
});
