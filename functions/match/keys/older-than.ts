import { parseDuration } from '../../rules/units.ts';
import { defineMatchKey } from '../define.ts';
import { receivedVerdict, tighten } from '../key-kit.ts';

/**
 * Received longer ago than a duration. With WITHIN (RFC 5032) imapflow sends the bound as OLDER seconds, exact;
 * without it SEARCH knows whole days only (BEFORE, rounded outwards: a superset), and the client checks
 * INTERNALDATE.
 */
export const olderThan = defineMatchKey({
  key: 'olderThan',
  schema: (kit) => kit.duration.describe('Received (INTERNALDATE) longer ago than this.'),
  clientSide: (context) => !context.hasWithin,
  search: (value, query, context) => {
    tighten(query, 'before', new Date(context.now.getTime() - parseDuration(value)));
  },
  check: (value, context) => {
    const limit = context.now.getTime() - parseDuration(value);
    return { needs: { internalDate: true }, test: (m) => receivedMs(m.internalDate) < limit };
  },
  evaluate: (value, message, { now }) =>
    receivedVerdict(message, message.internalDate.getTime() < now.getTime() - parseDuration(value)),
});

export function receivedMs(internalDate: Date | string | undefined): number {
  return internalDate ? new Date(internalDate).getTime() : Number.NaN;
}
