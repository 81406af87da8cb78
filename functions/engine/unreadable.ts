/** Why a message SEARCH found was left out: its FETCH gave nothing the IMAP library could read. */
export const UNREADABLE_REASON =
  'the server returned nothing readable for it (expunged meanwhile, or a structure the IMAP library refuses, ' +
  'such as MIME nested deeper than 25 levels)';
