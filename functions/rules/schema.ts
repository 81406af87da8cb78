import { z } from 'zod';
import { isAllowedWebhookUrl } from '../webhook/url.ts';
import { explainScheduleProblem, isTimeZone } from './schedule.ts';
import { compileUserRegex, DURATION_PATTERN, isIsoDate, SIZE_PATTERN } from './units.ts';

// CR, LF and NUL can never be part of an IMAP string we send; refusing them here means a rule value
// cannot smuggle a second command onto the wire (RFC 3501 §4.3: quoted strings exclude CR and LF).
const SINGLE_LINE = /^[^\r\n\0]*$/;
// A keyword is an IMAP atom (RFC 3501 §9 flag-keyword): printable ASCII without atom-specials.
const FLAG = /^(\\(Seen|Answered|Flagged|Draft|Deleted)|[!#$&'+,\-.0-9:;<=>?@A-Z^_`a-z|}~]+)$/;
const HEADER_NAME = /^[!-9;-~]+$/;

const singleLine = (what: string) =>
  z
    .string({ error: `expected ${what}` })
    .min(1, `expected ${what}, not an empty string`)
    .regex(SINGLE_LINE, `expected ${what} without line breaks`);

const searchText = singleLine('text to search for');
const mailboxName = singleLine('a mailbox name').max(
  1000,
  'expected a mailbox name of at most 1000 characters',
);
const flag = z
  .string({ error: 'expected a flag such as \\Seen or a keyword such as $Invoice' })
  .regex(FLAG, 'expected a flag such as \\Seen or a keyword such as $Invoice (no spaces or ()[]{}%*"\\)');
const headerName = z.string().regex(HEADER_NAME, 'expected a header name such as List-Unsubscribe');
const duration = z
  .string({ error: 'expected a duration such as 90m, 12h, 30d or 8w' })
  .regex(DURATION_PATTERN, 'expected a duration such as 90m, 12h, 30d or 8w');
const isoDate = z
  .string({ error: 'expected a date as YYYY-MM-DD' })
  .refine(isIsoDate, 'expected a date as YYYY-MM-DD');
const size = z.union([z.number().int().nonnegative(), z.string().regex(SIZE_PATTERN)], {
  error: 'expected a size such as 500KB or 5MB',
});
const regex = z.string({ error: 'expected a regular expression' }).superRefine((source, ctx) => {
  try {
    compileUserRegex(source);
  } catch (error) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a valid regular expression: ${(error as Error).message}`,
    });
  }
});
const glob = singleLine('a file name pattern such as *.pdf');
const mimeType = z
  .string({ error: 'expected a MIME type such as application/pdf or image/*' })
  .regex(/^[\w.+-]+\/([\w.+-]+|\*)$/, 'expected a MIME type such as application/pdf or image/*');

export const MatchSchema = z.strictObject({
  from: searchText.optional().describe('Substring of From (case-insensitive, server-side).'),
  to: searchText.optional().describe('Substring of To.'),
  cc: searchText.optional().describe('Substring of Cc.'),
  subject: searchText.optional().describe('Substring of Subject.'),
  body: searchText.optional().describe('Substring of the body.'),
  text: searchText.optional().describe('Substring of headers or body.'),
  header: z
    .record(headerName, z.string().regex(SINGLE_LINE, 'expected a value without line breaks'))
    .optional()
    .describe('Header name to substring; an empty value means the header is present.'),
  seen: z.boolean().optional(),
  flagged: z.boolean().optional(),
  answered: z.boolean().optional(),
  draft: z.boolean().optional(),
  keyword: flag.optional().describe('Message carries this keyword.'),
  notKeyword: flag.optional().describe('Message does not carry this keyword.'),
  olderThan: duration.optional().describe('Received (INTERNALDATE) longer ago than this.'),
  newerThan: duration.optional().describe('Received within this long.'),
  before: isoDate.optional().describe('Received before this day (UTC).'),
  since: isoDate.optional().describe('Received on or after this day (UTC).'),
  larger: size.optional().describe('Larger than this size.'),
  smaller: size.optional().describe('Smaller than this size.'),
  // Recursive keys need explicit types (zod 4 getters); emptiness is checked by checkMatchNotEmpty.
  get any(): z.ZodOptional<z.ZodArray<typeof MatchSchema>> {
    return z
      .array(MatchSchema, { error: 'expected a list of matches' })
      .min(1, 'expected at least one match in any')
      .optional();
  },
  get not(): z.ZodOptional<typeof MatchSchema> {
    return MatchSchema.optional();
  },
  subjectMatches: regex.optional().describe('Regular expression on the decoded subject (client-side).'),
  fromMatches: regex.optional().describe('Regular expression on "Name <address>" of each sender.'),
  headerMatches: z.record(headerName, regex).optional().describe('Header name to regular expression.'),
  attachment: z
    .strictObject({ type: mimeType.optional(), filename: glob.optional() })
    .optional()
    .describe('Has an attachment of this MIME type and/or file name (from BODYSTRUCTURE).'),
});

/** An empty match would select every message; refuse it at every level of the tree. */
function checkMatchNotEmpty(match: Match, path: PropertyKey[], ctx: z.RefinementCtx): void {
  if (Object.keys(match).length === 0) {
    ctx.addIssue({
      code: 'custom',
      path,
      message: 'expected at least one match key (an empty match selects every message)',
    });
  }
  match.any?.forEach((inner, index) => {
    checkMatchNotEmpty(inner, [...path, 'any', index], ctx);
  });
  if (match.not) checkMatchNotEmpty(match.not, [...path, 'not'], ctx);
}

// A secret never sits in a rule file: it is named, and resolved from Parameter Store (AWS), a local
// parameters file (CLI) or the environment.
const secretReference = z.union(
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

export const WEBHOOK_INCLUDES = ['text', 'attachments'] as const;

export const WebhookSchema = z.strictObject({
  url: z.union(
    [
      z
        .string()
        .refine(
          isAllowedWebhookUrl,
          'expected an https:// URL (http:// only for localhost) without credentials',
        ),
      secretReference,
    ],
    { error: 'expected an https:// URL, { parameter: /name } or { env: NAME }' },
  ),
  format: z.enum(['json', 'slack'], { error: 'expected json or slack' }).default('json'),
  include: z
    .array(z.enum(WEBHOOK_INCLUDES, { error: 'expected text or attachments' }))
    .default(['text', 'attachments'])
    .describe('Optional parts of the JSON payload.'),
  headers: z.array(headerName).optional().describe('Header fields to add to the JSON payload.'),
  maxTextLength: z
    .number({ error: 'expected a whole number' })
    .int()
    .min(100, 'expected at least 100')
    .max(1_000_000, 'expected at most 1000000')
    .default(20_000)
    .describe('Longest text body in characters; longer text is cut and marked truncated.'),
  secret: secretReference.optional().describe('Signs each request with HMAC-SHA256 (X-Mailsift-Signature).'),
  attempts: z
    .number()
    .int()
    .min(1)
    .max(10)
    .default(5)
    .describe('Tries per message (network errors, 5xx, 429).'),
  timeoutSeconds: z.number().int().min(1).max(120).default(10),
  dedupe: z
    .boolean()
    .default(true)
    .describe('Mark delivered messages with a keyword and never post them again (needs keyword support).'),
  keyword: flag.optional().describe('Delivery keyword; default $mailsift-fwd-<rule name>.'),
});

export const ActionSchema = z
  .strictObject({
    addFlags: z
      .array(flag, { error: 'expected a list of flags' })
      .min(1, 'expected at least one flag')
      .optional(),
    removeFlags: z
      .array(flag, { error: 'expected a list of flags' })
      .min(1, 'expected at least one flag')
      .optional(),
    copyTo: mailboxName.optional(),
    moveTo: mailboxName.optional(),
    delete: z.enum(['trash', 'expunge'], { error: 'expected trash or expunge' }).optional(),
    webhook: WebhookSchema.optional(),
  })
  .refine(
    (action) => Object.keys(action).length === 1,
    'expected exactly one action: addFlags, removeFlags, copyTo, moveTo, delete or webhook',
  );

/** Actions after which the messages are no longer in the rule's mailbox. */
const TERMINAL_ACTIONS = ['moveTo', 'delete'] as const;

export const RuleSchema = z
  .strictObject({
    name: z
      .string({ error: 'expected a rule name' })
      .regex(/^[A-Za-z0-9][\w.-]{0,63}$/, 'expected a rule name of letters, digits, "-", "_" or "."'),
    mailbox: mailboxName.optional().describe('Mailbox for this rule; defaults to the ruleset mailbox.'),
    match: MatchSchema,
    actions: z
      .array(ActionSchema, { error: 'expected a list of actions' })
      .min(1, 'expected at least one action'),
    limit: z
      .number({ error: 'expected a whole number' })
      .int('expected a whole number')
      .min(1, 'expected at least 1')
      .max(100_000, 'expected at most 100000')
      .default(1000)
      .describe('Most messages acted on per run; the rest wait for the next run.'),
    stop: z.boolean().default(false).describe('Later rules in the file skip messages this rule matched.'),
  })
  .superRefine((rule, ctx) => {
    checkMatchNotEmpty(rule.match, ['match'], ctx);
    const last = rule.actions.length - 1;
    rule.actions.forEach((action, index) => {
      const terminal = TERMINAL_ACTIONS.find((key) => key in action);
      if (terminal && index < last) {
        ctx.addIssue({
          code: 'custom',
          path: ['actions', index + 1],
          message: `an action after ${terminal} would never run: ${terminal} must be the last action`,
        });
      }
    });
  });

export const RulesetSchema = z
  .strictObject({
    account: z
      .string({ error: 'expected an account name' })
      .regex(/^[A-Za-z0-9][\w.-]{0,63}$/, 'expected an account name of letters, digits, "-", "_" or "."'),
    schedule: z.string({ error: 'expected rate(...) or cron(...)' }).superRefine((expression, ctx) => {
      const problem = explainScheduleProblem(expression);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    timezone: z
      .string()
      .refine(isTimeZone, 'expected an IANA time zone such as Europe/Berlin')
      .optional()
      .describe('Time zone for cron schedules; UTC when absent.'),
    mailbox: mailboxName.default('INBOX'),
    rules: z.array(RuleSchema, { error: 'expected a list of rules' }).min(1, 'expected at least one rule'),
  })
  .superRefine((ruleset, ctx) => {
    const seen = new Set<string>();
    ruleset.rules.forEach((rule, index) => {
      if (seen.has(rule.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', index, 'name'],
          message: `rule name "${rule.name}" is used twice`,
        });
      }
      seen.add(rule.name);
    });
  });

export type Match = z.output<typeof MatchSchema>;
export type Action = z.output<typeof ActionSchema>;
export type WebhookAction = z.output<typeof WebhookSchema>;
export type SecretReference = z.output<typeof secretReference>;
export type Rule = z.output<typeof RuleSchema>;
/** A validated ruleset, with the name it is known by (the file name without extension). */
export type Ruleset = z.output<typeof RulesetSchema> & { readonly name: string };

/** The JSON Schema of a rule file, for editors. */
export function rulesetJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(RulesetSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'mailsift ruleset',
    description: 'One account, one schedule, rules applied in order. See README.md.',
  };
}
