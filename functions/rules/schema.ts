import { z } from 'zod';
import { ACTIONS, type ActionShape, stepOf } from '../engine/actions/index.ts';
import type { MatchShapeOf } from '../match/define.ts';
import { MATCH_KEYS } from '../match/keys/index.ts';
import { explainScheduleProblem, isTimeZone } from './schedule.ts';
import { duration, mailboxName, SCHEMA_KIT } from './schema-kit.ts';

/** Each match key's schema comes from its definition (match/keys/); `any` and `not` nest matches. */
const MATCH_KEY_SHAPE = Object.fromEntries(
  MATCH_KEYS.map((definition) => [definition.key, definition.schema(SCHEMA_KIT).optional()]),
) as MatchShapeOf<typeof MATCH_KEYS>; // the registry's keys and schemas, typed per key

type MatchShape = MatchShapeOf<typeof MATCH_KEYS> & {
  readonly any: z.ZodOptional<z.ZodArray<MatchObject>>;
  readonly not: z.ZodOptional<MatchObject>;
};
// A named type for the recursion: zod 4's getters cannot infer it through the spread registry shape.
interface MatchObject extends z.ZodObject<MatchShape, z.core.$strict> {}

export const MatchSchema: MatchObject = z.strictObject({
  ...MATCH_KEY_SHAPE,
  // Emptiness is checked by checkMatchNotEmpty.
  get any(): z.ZodOptional<z.ZodArray<MatchObject>> {
    return z
      .array(MatchSchema, { error: 'expected a list of matches' })
      .min(1, 'expected at least one match in any')
      .optional();
  },
  get not(): z.ZodOptional<MatchObject> {
    return MatchSchema.optional();
  },
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

/** Each action's schema comes from its definition (engine/actions/); a rule's action names exactly one. */
const ACTION_SHAPE = Object.fromEntries(
  ACTIONS.map((definition) => [definition.key, definition.schema(SCHEMA_KIT).optional()]),
) as ActionShape; // the registry's keys and schemas, typed per key by ActionShape

export const ActionSchema = z.strictObject(ACTION_SHAPE).refine(
  (action) => Object.keys(action).length === 1,
  `expected exactly one action: ${ACTIONS.map((definition) => definition.key)
    .join(', ')
    .replace(/, (\w+)$/, ' or $1')}`,
);

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
      const terminal = ACTIONS.find(
        (definition) => definition.removesMessages && definition.key in action,
      )?.key;
      if (terminal && index < last) {
        ctx.addIssue({
          code: 'custom',
          path: ['actions', index + 1],
          message: `an action after ${terminal} would never run: ${terminal} must be the last action`,
        });
      }
    });
    checkFinishedIsVisible(rule.name, rule.actions, ctx);
  });

/**
 * After a webhook that posts each message once, every later action must leave what SEARCH can see (flags, a
 * delivery keyword) or take the message away: otherwise a run cut after the post and before that action could not
 * tell an unfinished message from a finished one, and the action would never be applied to it.
 */
function checkFinishedIsVisible(name: string, actions: readonly Action[], ctx: z.RefinementCtx): void {
  // Runs on what the other checks may already have refused: an action that is not exactly one known key is theirs.
  if (
    !actions.every((action) => Object.keys(action).length === 1 && ACTIONS.some((each) => each.key in action))
  ) {
    return;
  }
  const steps = actions.map(stepOf);
  const firstMark = steps.findIndex((step) => step.definition.deliveryMark(step.params, name) !== undefined);
  if (firstMark < 0) return;
  steps.slice(firstMark + 1).forEach((step, offset) => {
    const { definition, params } = step;
    const visible =
      definition.removesMessages ||
      definition.flagChange(params) !== undefined ||
      definition.deliveryMark(params, name) !== undefined;
    if (visible) return;
    ctx.addIssue({
      code: 'custom',
      path: ['actions', firstMark + 1 + offset],
      message: `${definition.key} after a webhook leaves no mark a later run can see, so a run cut between the two would never apply it: put ${definition.key} before the webhook`,
    });
  });
}

const accountName = z
  .string({ error: 'expected an account name' })
  .regex(/^[A-Za-z0-9][\w.-]{0,63}$/, 'expected an account name of letters, digits, "-", "_" or "."');

/** A rule file: `account: a`, or `accounts: [a, b, …]` for the same rules on each (run separately). */
export const RulesetSchema = z
  .strictObject({
    account: accountName.optional().describe('The account these rules run on (or give `accounts`).'),
    accounts: z
      .array(accountName, { error: 'expected a list of account names' })
      .min(1, 'expected at least one account')
      .optional()
      .describe('Accounts that each run these rules, with their own state and summary.'),
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
    fullScanEvery: duration
      .default('1d')
      .describe('How often a run scans every message instead of only what changed since the last run.'),
    keepHistory: duration
      .default('30d')
      .describe('How long what a run changed is kept, for `mailsift history` and `undo`.'),
    rules: z.array(RuleSchema, { error: 'expected a list of rules' }).min(1, 'expected at least one rule'),
  })
  .superRefine((ruleset, ctx) => {
    if ((ruleset.account === undefined) === (ruleset.accounts === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ruleset.account === undefined ? ['account'] : ['accounts'],
        message:
          ruleset.account === undefined
            ? 'missing: expected account (one name) or accounts (a list)'
            : 'expected account or accounts, not both',
      });
    }
    const accounts = new Set<string>();
    ruleset.accounts?.forEach((account, index) => {
      if (accounts.has(account))
        ctx.addIssue({
          code: 'custom',
          path: ['accounts', index],
          message: `account "${account}" is listed twice`,
        });
      accounts.add(account);
    });
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
export type { SecretReference } from './schema-kit.ts';
export type Rule = z.output<typeof RuleSchema>;
/**
 * A validated rule file, with the name it is known by (the file name without extension) and its accounts
 * (`account: a` is `accounts: [a]`).
 */
export type RuleFile = Omit<z.output<typeof RulesetSchema>, 'account' | 'accounts'> & {
  readonly name: string;
  readonly accounts: readonly string[];
};
/** What runs: a rule file's rules on one of its accounts. A file with `accounts` gives one per account. */
export type Ruleset = Omit<RuleFile, 'accounts'> & { readonly account: string };

/** The JSON Schema of a rule file, for editors. */
export function rulesetJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(RulesetSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'mailsift ruleset',
    description: 'One account (or a list), one schedule, rules applied in order. See README.md.',
  };
}
