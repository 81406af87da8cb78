import { defineMatchKey } from '../define.ts';
import { receivedVerdict, tighten } from '../key-kit.ts';

/** Received on or after a day, UTC: YOUNGER under WITHIN (RFC 5032), as before. */
export const since = defineMatchKey({
  key: 'since',
  schema: (kit) => kit.isoDate.describe('Received on or after this day (UTC).'),
  search: (value, query) => {
    tighten(query, 'since', `${value}T00:00:00.000Z`);
  },
  evaluate: (value, message) =>
    receivedVerdict(message, message.internalDate.getTime() >= Date.parse(`${value}T00:00:00.000Z`)),
});
