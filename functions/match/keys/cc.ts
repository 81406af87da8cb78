import { defineMatchKey } from '../define.ts';
import { searchedAddresses, substringVerdict } from '../key-kit.ts';

/** CC (RFC 3501 §6.4.4): a substring of the Cc header's addresses, display names included. */
export const cc = defineMatchKey({
  key: 'cc',
  schema: (kit) => kit.searchText.describe('Substring of Cc.'),
  search: (value, query) => {
    query.cc = value;
  },
  evaluate: (value, message) => substringVerdict(searchedAddresses(message.envelope.cc), value),
});
