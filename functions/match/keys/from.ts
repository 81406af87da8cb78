import { defineMatchKey } from '../define.ts';
import { searchedAddresses, substringVerdict } from '../key-kit.ts';

/** FROM (RFC 3501 §6.4.4): a substring of the From header's addresses, display names included. */
export const from = defineMatchKey({
  key: 'from',
  schema: (kit) => kit.searchText.describe('Substring of From (case-insensitive, server-side).'),
  search: (value, query) => {
    query.from = value;
  },
  evaluate: (value, message) => substringVerdict(searchedAddresses(message.envelope.from), value),
});
