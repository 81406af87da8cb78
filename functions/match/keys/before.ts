import { defineMatchKey } from '../define.ts';
import { receivedVerdict, tighten } from '../key-kit.ts';

/** Received before a day, UTC: imapflow sends OLDER under WITHIN (RFC 5032), exact to the second. */
export const before = defineMatchKey({
  key: 'before',
  schema: (kit) => kit.isoDate.describe('Received before this day (UTC).'),
  search: (value, query) => {
    tighten(query, 'before', `${value}T00:00:00.000Z`);
  },
  evaluate: (value, message) =>
    receivedVerdict(message, message.internalDate.getTime() < Date.parse(`${value}T00:00:00.000Z`)),
});
