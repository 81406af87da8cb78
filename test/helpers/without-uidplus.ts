import type { ServerBehaviour } from './fault-proxy.ts';

/**
 * Dovecot made to look like a server with MOVE but without UIDPLUS (RFC 4315): no UIDPLUS in its capabilities,
 * and no COPYUID response codes after COPY and MOVE, so nothing says where the messages went. (Dovecot's
 * `imap_capability` only hides the capability; it still sends COPYUID.)
 */
export const WITHOUT_UIDPLUS: ServerBehaviour = {
  fromServer: (unit) => unit.replace(/ UIDPLUS\b/g, '').replace(/\[COPYUID [^\]]*\] ?/gi, ''),
};
