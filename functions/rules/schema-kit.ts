import { z } from 'zod';
import { compileUserRegex, DURATION_PATTERN, isIsoDate, SIZE_PATTERN } from './units.ts';

// CR, LF and NUL can never be part of an IMAP string we send; refusing them here means a rule value
// cannot smuggle a second command onto the wire (RFC 3501 §4.3: quoted strings exclude CR and LF).
export const SINGLE_LINE = /^[^\r\n\0]*$/;
// A keyword is an IMAP atom (RFC 3501 §9 flag-keyword): printable ASCII without atom-specials.
const FLAG = /^(\\(Seen|Answered|Flagged|Draft|Deleted)|[!#$&'+,\-.0-9:;<=>?@A-Z^_`a-z|}~]+)$/;
const HEADER_NAME = /^[!-9;-~]+$/;

export const singleLine = (what: string) =>
  z
    .string({ error: `expected ${what}` })
    .min(1, `expected ${what}, not an empty string`)
    .regex(SINGLE_LINE, `expected ${what} without line breaks`);

export const searchText = singleLine('text to search for');
export const mailboxName = singleLine('a mailbox name').max(
  1000,
  'expected a mailbox name of at most 1000 characters',
);
export const flag = z
  .string({ error: 'expected a flag such as \\Seen or a keyword such as $Invoice' })
  .regex(FLAG, 'expected a flag such as \\Seen or a keyword such as $Invoice (no spaces or ()[]{}%*"\\)');
export const headerName = z.string().regex(HEADER_NAME, 'expected a header name such as List-Unsubscribe');
export const duration = z
  .string({ error: 'expected a duration such as 90m, 12h, 30d or 8w' })
  .regex(DURATION_PATTERN, 'expected a duration such as 90m, 12h, 30d or 8w');
export const isoDate = z
  .string({ error: 'expected a date as YYYY-MM-DD' })
  .refine(isIsoDate, 'expected a date as YYYY-MM-DD');
export const size = z.union([z.number().int().nonnegative(), z.string().regex(SIZE_PATTERN)], {
  error: 'expected a size such as 500KB or 5MB',
});
export const regex = z.string({ error: 'expected a regular expression' }).superRefine((source, ctx) => {
  try {
    compileUserRegex(source);
  } catch (error) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a valid regular expression: ${(error as Error).message}`,
    });
  }
});
export const glob = singleLine('a file name pattern such as *.pdf');
export const mimeType = z
  .string({ error: 'expected a MIME type such as application/pdf or image/*' })
  .regex(/^[\w.+-]+\/([\w.+-]+|\*)$/, 'expected a MIME type such as application/pdf or image/*');

// A secret never sits in a rule file: it is named, and resolved from Parameter Store (AWS), a local
// parameters file (CLI) or the environment.
export const secretReference = z.union(
  [
    z.strictObject({
      parameter: z.string().regex(/^\/[\w./-]+$/, 'expected a parameter name such as /mailsift/x'),
    }),
    z.strictObject({
      env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name'),
    }),
  ],
  { error: 'expected { parameter: /name } or { env: NAME }' },
);

/**
 * The pieces of rule-file schema that more than one place uses, handed to each action definition's `schema`
 * (engine/actions/) and match key definition (match/keys/): their files then need zod's types only, and the Lambda's cold path never loads zod.
 */
export const SCHEMA_KIT = {
  z,
  SINGLE_LINE,
  singleLine,
  searchText,
  mailboxName,
  flag,
  headerName,
  duration,
  isoDate,
  size,
  regex,
  glob,
  mimeType,
  secretReference,
} as const;

export type SchemaKit = typeof SCHEMA_KIT;

/** `{ parameter: /name }` or `{ env: NAME }`: where a secret is read from. */
export type SecretReference = z.output<typeof secretReference>;
