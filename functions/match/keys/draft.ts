import { defineMatchKey } from '../define.ts';
import { flagVerdict } from '../key-kit.ts';

/** DRAFT or UNDRAFT (RFC 3501 §6.4.4): the message carries \\Draft, or lacks it. */
export const draft = defineMatchKey({
  key: 'draft',
  schema: (kit) => kit.z.boolean(),
  search: (value, query) => {
    query.draft = value;
  },
  evaluate: (value, message) => flagVerdict(message.flags, '\\Draft', value),
});
