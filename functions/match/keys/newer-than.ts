import { parseDuration } from '../../rules/units.ts';
import { defineMatchKey } from '../define.ts';
import { receivedVerdict, tighten } from '../key-kit.ts';
import { receivedMs } from './older-than.ts';

/** Received within a duration: YOUNGER under WITHIN (RFC 5032), else SINCE days and a client check, as olderThan. */
export const newerThan = defineMatchKey({
  key: 'newerThan',
  schema: (kit) => kit.duration.describe('Received within this long.'),
  clientSide: (context) => !context.hasWithin,
  search: (value, query, context) => {
    tighten(query, 'since', new Date(context.now.getTime() - parseDuration(value)));
  },
  check: (value, context) => {
    const limit = context.now.getTime() - parseDuration(value);
    return { needs: { internalDate: true }, test: (m) => receivedMs(m.internalDate) >= limit };
  },
  evaluate: (value, message, { now }) =>
    receivedVerdict(message, message.internalDate.getTime() >= now.getTime() - parseDuration(value)),
});
