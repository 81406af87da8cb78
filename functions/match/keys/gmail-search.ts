import { CapabilityError, OfflineEvaluationError } from '../../errors.ts';
import { defineMatchKey } from '../define.ts';

/** Gmail's own query (`has:attachment filename:pdf`) as X-GM-RAW, decided by Gmail: no other server has it. */
export const gmailSearch = defineMatchKey({
  key: 'gmailSearch',
  schema: (kit) =>
    kit.searchText.describe(
      "Gmail's own search syntax, e.g. 'has:attachment filename:pdf' (X-GM-RAW; Gmail only).",
    ),
  search: (value, query, context) => {
    if (!context.hasGmailSearch) {
      throw new CapabilityError(
        `gmailSearch ${JSON.stringify(value)} needs Gmail (the X-GM-EXT-1 extension), which this server does not offer; ` +
          'use the other match keys here',
      );
    }
    query.gmraw = value;
  },
  evaluate: (value) => {
    throw new OfflineEvaluationError(
      `gmailSearch ${JSON.stringify(value)} is decided by Gmail's own search and cannot be evaluated offline`,
    );
  },
});
