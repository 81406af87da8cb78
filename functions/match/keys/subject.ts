import { defineMatchKey } from '../define.ts';
import { substringVerdict } from '../key-kit.ts';

/** SUBJECT (RFC 3501 §6.4.4): a substring of the decoded Subject header. */
export const subject = defineMatchKey({
  key: 'subject',
  schema: (kit) => kit.searchText.describe('Substring of Subject.'),
  search: (value, query) => {
    query.subject = value;
  },
  evaluate: (value, message) =>
    substringVerdict(message.envelope.subject === undefined ? [] : [message.envelope.subject], value),
});
