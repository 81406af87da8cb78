import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type CliIo, EXIT } from './cli-io.ts';
import { RuleFileError, UsageError } from './errors.ts';
import { formatCases, formatExplained } from './format-tests.ts';
import { explainMatch, needsOf } from './match/evaluate.ts';
import type { MessageFacts } from './match/facts.ts';
import { messageFacts } from './match/message-file.ts';
import { loadRuleFile } from './rules/load.ts';
import { rulesetsOf } from './rules/rulesets.ts';
import type { Rule, Ruleset } from './rules/schema.ts';
import { fetchLiveFacts, type LiveTarget } from './testing/live-message.ts';
import { loadTestSuites, runSuites } from './testing/rule-tests.ts';

export const TEST_USAGE = `  mailsift test [files|dirs...] [--json]          run the rule tests (*.test.yaml, default under rules/)
                                                offline: no server, no state; exit 1 when a case fails
  mailsift explain RULEFILE --rule NAME (--eml FILE [--flags F,...] [--received ISO] | --uid N [--mailbox M]
               --accounts FILE) [--now ISO]     why a rule does or does not match one message: each
                                                condition with the value it looked at; --uid reads the
                                                live message (EXAMINE, only what the rule needs)
  mailsift capture ACCOUNT --mailbox M --uid N --out DIR [--redact] [--accounts FILE]
                                                save a live message as a test fixture and print a case for
                                                it; --redact replaces its text and addresses' local parts`;

const DEFAULT_PATHS = ['rules'];

/** `mailsift test`: every case of every test file, offline. */
export function commandTest(args: string[], io: CliIo): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false } },
  });
  const results = runSuites(loadTestSuites(positionals.length > 0 ? positionals : DEFAULT_PATHS));
  const passed = results.filter((result) => result.ok).length;
  if (values.json) {
    const cases = results.map(({ file, name, ok, acts, actions, expected, error }) => ({
      file,
      name,
      ok,
      acts,
      actions,
      expected,
      ...(error ? { error } : {}),
    }));
    io.stdout(`${JSON.stringify({ cases, passed, failed: results.length - passed })}\n`);
  } else {
    io.stdout(formatCases(results));
  }
  return passed === results.length ? EXIT.ok : EXIT.ruleFailed;
}

/** `mailsift explain`: one rule's match tree for one message, from a file or the live mailbox. */
export async function commandExplain(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      rule: { type: 'string' },
      eml: { type: 'string' },
      flags: { type: 'string' },
      received: { type: 'string' },
      uid: { type: 'string' },
      mailbox: { type: 'string' },
      accounts: { type: 'string' },
      parameters: { type: 'string' },
      state: { type: 'string' },
      now: { type: 'string' },
    },
  });
  const [file] = positionals;
  if (!file || !values.rule) throw new UsageError('explain takes a rule file and --rule NAME');
  if ((values.eml === undefined) === (values.uid === undefined))
    throw new UsageError('explain takes --eml FILE or --uid N');
  const ruleset = rulesetsOf(loadRuleFile(file))[0] as Ruleset;
  const rule = findRule(ruleset, values.rule, file);
  const now = values.now === undefined ? new Date() : instantOption('--now', values.now);
  const message =
    values.eml !== undefined
      ? messageFacts(readMessageFile(values.eml), {
          flags: values.flags ? values.flags.split(',').map((flag) => flag.trim()) : [],
          ...(values.received ? { received: instantOption('--received', values.received) } : {}),
        })
      : await fetchLiveFacts(liveTarget(ruleset, rule, values), needsOf(rule.match), io);
  const explained = explainMatch(rule.match, message, { now });
  io.stdout(`rule ${rule.name} of ${ruleset.name}\n${formatExplained(explained)}`);
  io.stdout(`${explained.matched ? 'matches' : 'does not match'}\n`);
  return EXIT.ok;
}

function liveTarget(
  ruleset: Ruleset,
  rule: Rule,
  values: Record<string, string | boolean | undefined>,
): LiveTarget {
  const uid = Number(values.uid);
  if (!Number.isInteger(uid) || uid < 1) throw new UsageError('--uid takes a message UID such as 4711');
  return {
    account: ruleset.account,
    mailbox: (values.mailbox as string | undefined) ?? rule.mailbox ?? ruleset.mailbox,
    uid,
    accounts: values.accounts as string | undefined,
    parameters: values.parameters as string | undefined,
    state: values.state as string | undefined,
  };
}

function findRule(ruleset: Ruleset, name: string, file: string): Rule {
  const rule = ruleset.rules.find((each) => each.name === name);
  if (!rule) {
    const names = ruleset.rules.map((each) => each.name).join(', ');
    throw new RuleFileError([{ file, path: 'rules', message: `no rule "${name}" (its rules: ${names})` }]);
  }
  return rule;
}

function readMessageFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError(`cannot read message file ${path}: ${(error as NodeJS.ErrnoException).code}`);
  }
}

function instantOption(name: string, text: string): Date {
  const date = new Date(text);
  // With its offset: without one, the time would be read in this machine's zone.
  if (!/^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(text) || Number.isNaN(date.getTime())) {
    throw new UsageError(
      `${name} takes a date and time with its offset, such as 2026-12-20T09:00:00Z, not ${JSON.stringify(text)}`,
    );
  }
  return date;
}

export type { MessageFacts };
