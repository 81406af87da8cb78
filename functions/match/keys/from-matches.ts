import { compileUserRegex } from '../../rules/units.ts';
import { type ClientCheck, defineMatchKey } from '../define.ts';
import { asFetched } from '../facts.ts';
import { addressTexts, shown } from '../key-kit.ts';

function fromCheck(value: string): ClientCheck {
  const regex = compileUserRegex(value);
  return {
    needs: { envelope: true },
    test: (m) => addressTexts(m.envelope?.from).some((address) => regex.test(address)),
  };
}

/** A regular expression on "Name <address>" of each sender, checked by the client on the ENVELOPE. */
export const fromMatches = defineMatchKey({
  key: 'fromMatches',
  schema: (kit) => kit.regex.describe('Regular expression on "Name <address>" of each sender.'),
  check: (value) => fromCheck(value),
  evaluate: (value, message) => ({
    matched: fromCheck(value).test(asFetched(message)),
    saw: addressTexts(message.envelope.from).map(shown).join(', ') || '(none)',
  }),
});
