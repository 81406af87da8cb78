import { answered } from './answered.ts';
import { attachment } from './attachment.ts';
import { before } from './before.ts';
import { body } from './body.ts';
import { cc } from './cc.ts';
import { draft } from './draft.ts';
import { flagged } from './flagged.ts';
import { from } from './from.ts';
import { fromMatches } from './from-matches.ts';
import { gmailSearch } from './gmail-search.ts';
import { header } from './header.ts';
import { headerMatches } from './header-matches.ts';
import { keyword } from './keyword.ts';
import { larger } from './larger.ts';
import { newerThan } from './newer-than.ts';
import { notKeyword } from './not-keyword.ts';
import { olderThan } from './older-than.ts';
import { seen } from './seen.ts';
import { since } from './since.ts';
import { smaller } from './smaller.ts';
import { subject } from './subject.ts';
import { subjectMatches } from './subject-matches.ts';
import { text } from './text.ts';
import { to } from './to.ts';

/**
 * Every match key a rule file can name (besides the combinators `any` and `not`), in the order the schema lists
 * them. Adding a match key is adding its file and a line here: the schema, the SEARCH compiler, the client
 * checks and the offline evaluator loop over this. Date keys come in this order so that a bound from a duration
 * and one from a day combine into the stricter (`tighten`).
 */
export const MATCH_KEYS = [
  from,
  to,
  cc,
  subject,
  body,
  text,
  header,
  seen,
  flagged,
  answered,
  draft,
  keyword,
  notKeyword,
  olderThan,
  newerThan,
  before,
  since,
  gmailSearch,
  larger,
  smaller,
  subjectMatches,
  fromMatches,
  headerMatches,
  attachment,
] as const;
