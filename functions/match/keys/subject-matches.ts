import { compileUserRegex } from '../../rules/units.ts';
import { type ClientCheck, defineMatchKey } from '../define.ts';
import { asFetched } from '../facts.ts';
import { shown } from '../key-kit.ts';

function subjectCheck(value: string): ClientCheck {
  const regex = compileUserRegex(value);
  return { needs: { envelope: true }, test: (m) => regex.test(m.envelope?.subject ?? '') };
}

/** A regular expression on the decoded subject: SEARCH has none, so the client checks the ENVELOPE's subject. */
export const subjectMatches = defineMatchKey({
  key: 'subjectMatches',
  schema: (kit) => kit.regex.describe('Regular expression on the decoded subject (client-side).'),
  check: (value) => subjectCheck(value),
  evaluate: (value, message) => ({
    matched: subjectCheck(value).test(asFetched(message)),
    saw: shown(message.envelope.subject ?? ''),
  }),
});
