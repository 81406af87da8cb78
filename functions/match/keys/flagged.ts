import { defineMatchKey } from '../define.ts';
import { flagVerdict } from '../key-kit.ts';

/** FLAGGED or UNFLAGGED (RFC 3501 §6.4.4): the message carries \\Flagged, or lacks it. */
export const flagged = defineMatchKey({
  key: 'flagged',
  schema: (kit) => kit.z.boolean(),
  search: (value, query) => {
    query.flagged = value;
  },
  evaluate: (value, message) => flagVerdict(message.flags, '\\Flagged', value),
});
