import { parseHeaderBlock } from '../../mail/mime.ts';
import { compileUserRegex } from '../../rules/units.ts';
import { type ClientCheck, defineMatchKey } from '../define.ts';
import { asFetched } from '../facts.ts';
import { headerOf, shown } from '../key-kit.ts';

function headersCheck(value: Readonly<Record<string, string>>): ClientCheck {
  const wanted = Object.entries(value).map(([name, source]) => ({
    name: name.toLowerCase(),
    regex: compileUserRegex(source),
  }));
  return {
    needs: { headers: wanted.map((entry) => entry.name) },
    test: (m) => {
      const headers = parseHeaderBlock(m.headers);
      return wanted.every(({ name, regex }) => (headers.get(name) ?? []).some((each) => regex.test(each)));
    },
  };
}

/** Header name to regular expression: the client fetches just those header fields and checks their values. */
export const headerMatches = defineMatchKey({
  key: 'headerMatches',
  schema: (kit) =>
    kit.z
      .record(kit.headerName, kit.regex)
      .refine((value) => Object.keys(value).length > 0, 'expected at least one header name')
      .describe('Header name to regular expression.'),
  check: (value) => headersCheck(value),
  reads: 'header',
  evaluate: (value, message) => {
    const headers = parseHeaderBlock(headerOf(message, 'headerMatches'));
    const saw = Object.keys(value).map((name) => {
      const values = headers.get(name.toLowerCase()) ?? [];
      return `${name}: ${values.length === 0 ? '(absent)' : values.map(shown).join(', ')}`;
    });
    return { matched: headersCheck(value).test(asFetched(message)), saw: saw.join('; ') };
  },
});
