import { z } from 'zod';
import { flag, mailboxName, SINGLE_LINE } from './schema-kit.ts';

const instant = z
  .string({ error: 'expected a date and time such as 2026-12-20T09:00:00Z' })
  // With its offset (Z or +01:00): a time without one would be read in the zone of whichever machine runs the tests.
  .refine(
    (text) => /^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(text) && !Number.isNaN(Date.parse(text)),
    { message: 'expected a date and time with its offset, such as 2026-12-20T09:00:00Z' },
  )
  .transform((text) => new Date(text));

const ruleName = z.string({ error: 'expected a rule name' }).min(1, 'expected a rule name');

/** One case of a test file: a message file, what the mailbox says of it, and what the rules should do. */
export const TestCaseSchema = z.strictObject({
  name: z
    .string({ error: 'expected a name for the case' })
    .min(1, 'expected a name for the case')
    .regex(SINGLE_LINE, 'expected a name without line breaks'),
  message: z
    .string({ error: 'expected the path of a message file (.eml)' })
    .min(1, 'expected the path of a message file (.eml)')
    .describe('The message file, relative to this test file.'),
  received: instant
    .optional()
    .describe('INTERNALDATE: when the server received it (default: its Date header).'),
  flags: z
    .array(flag, { error: 'expected a list of flags' })
    .default([])
    .describe('Flags and keywords it carries.'),
  mailbox: mailboxName.optional().describe("The mailbox it is in (default: the ruleset's)."),
  expect: z.strictObject({
    acts: z
      .array(ruleName, { error: 'expected a list of rule names ([] for none)' })
      .describe('The rules that act on it, in order.'),
    actions: z
      .array(z.string().min(1), { error: 'expected a list of steps such as "moveTo Finance/Invoices"' })
      .optional()
      .describe('Exactly these steps, in order.'),
  }),
});

/** A test file (`NAME.test.yaml`): cases run offline against one ruleset by `mailsift test`. */
export const TestFileSchema = z.strictObject({
  ruleset: z
    .string({ error: 'expected the name of a ruleset (its rule file without .yaml)' })
    .min(1, 'expected the name of a ruleset (its rule file without .yaml)'),
  now: instant.optional().describe('The clock for olderThan and newerThan (default: now).'),
  cases: z.array(TestCaseSchema, { error: 'expected a list of cases' }).min(1, 'expected at least one case'),
});

export type TestFile = z.output<typeof TestFileSchema>;
export type TestCase = z.output<typeof TestCaseSchema>;

/** The JSON Schema of test files, for editors. */
export function testFileJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(TestFileSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'mailsift rule tests',
    description: 'Cases run offline against one ruleset by `mailsift test`. See docs/testing-rules.md.',
  };
}
