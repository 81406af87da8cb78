import { parseHeaderBlock } from '../../mail/mime.ts';
import { defineMatchKey } from '../define.ts';
import { fold, headerOf, shown } from '../key-kit.ts';

/** HEADER (RFC 3501 §6.4.4): each named header holds the substring; an empty value asks only that it exists. */
export const header = defineMatchKey({
  key: 'header',
  schema: (kit) =>
    kit.z
      .record(kit.headerName, kit.z.string().regex(kit.SINGLE_LINE, 'expected a value without line breaks'))
      // An empty map would compile to no SEARCH term at all: under NOT or OR imapflow refuses it.
      .refine((value) => Object.keys(value).length > 0, 'expected at least one header name')
      .describe('Header name to substring; an empty value means the header is present.'),
  search: (value, query) => {
    query.header = { ...value };
  },
  reads: 'header',
  evaluate: (value, message) => {
    const headers = parseHeaderBlock(headerOf(message, 'header'));
    const found = Object.entries(value).map(([name, wanted]) => {
      const values = headers.get(name.toLowerCase()) ?? [];
      const matched = values.some((each) => fold(each).includes(fold(wanted)));
      return { matched, saw: `${name}: ${values.length === 0 ? '(absent)' : values.map(shown).join(', ')}` };
    });
    return { matched: found.every((each) => each.matched), saw: found.map((each) => each.saw).join('; ') };
  },
});
