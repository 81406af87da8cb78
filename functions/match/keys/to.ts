import { defineMatchKey } from '../define.ts';
import { searchedAddresses, substringVerdict } from '../key-kit.ts';

/** TO (RFC 3501 §6.4.4): a substring of the To header's addresses, display names included. */
export const to = defineMatchKey({
  key: 'to',
  schema: (kit) => kit.searchText.describe('Substring of To.'),
  search: (value, query) => {
    query.to = value;
  },
  evaluate: (value, message) => substringVerdict(searchedAddresses(message.envelope.to), value),
});
