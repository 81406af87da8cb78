/** Match keys evaluated by the client because IMAP SEARCH cannot express them. */
export const CLIENT_MATCH_KEYS = ['subjectMatches', 'fromMatches', 'headerMatches', 'attachment'] as const;
