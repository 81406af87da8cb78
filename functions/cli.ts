import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { commandAuth } from './cli-auth.ts';
import { commandCapture } from './cli-capture.ts';
import { commandHistory, commandUndo } from './cli-history.ts';
import { type CliIo, EXIT } from './cli-io.ts';
import { commandState, STATE_USAGE } from './cli-state.ts';
import { commandExplain, commandTest, TEST_USAGE } from './cli-test.ts';
import { type PlanLimits, PlanRecorder, planDigest, planLimits, readPlan } from './engine/history/plan.ts';
import { hasFailed, type RuleProgress, runRulesets } from './engine/run.ts';
import { AccountError, MailsiftError, RuleFileError, UsageError } from './errors.ts';
import { formatProgress, formatSummary } from './format-summary.ts';
import { withTokens } from './oauth/tokens.ts';
import { loadRuleFiles, loadRulesets } from './rules/load.ts';
import { type Ruleset, rulesetJsonSchema } from './rules/schema.ts';
import { testFileJsonSchema } from './rules/test-file.ts';
import { loadAccountsFile, localSecretResolver } from './secrets/local.ts';
import { openStateStore } from './state/open-store.ts';
import { webhookPayloadJsonSchema } from './webhook/payload-schema.ts';

const USAGE = `Usage:
  mailsift validate [files|dirs...]            check rule files (default: rules/)
  mailsift run [files|dirs...] [--dry-run] [--full] [--json] [--accounts FILE] [--parameters FILE]
               [--state DIR|dynamodb:TABLE] [--state-lease state|mailbox] [--no-lease] [--plan FILE]
                                                run rulesets; --dry-run changes nothing; --full scans every
                                                message, not only what changed since the last run; --state
                                                is where mailsift remembers leases, checkpoints, copies,
                                                deliveries and expunges
                                                (default $MAILSIFT_STATE, $XDG_STATE_HOME/mailsift or
                                                ~/.local/state/mailsift); --state-lease mailbox holds the
                                                account lease in a mailsift-lease mailbox of the account
                                                instead (runs from several machines); --no-lease skips the
                                                lease and the copy journal (only if nothing else runs the
                                                account; a cut run may then copy twice)
  mailsift apply PLAN [files|dirs...] [--json] [--accounts FILE] [--parameters FILE] [--state DIR|dynamodb:TABLE]
                                                do what a dry run's --plan FILE says, to the planned messages
                                                that still match, and nothing else
  mailsift auth login ACCOUNT [--browser] [--accounts FILE] [--parameters FILE] [--state DIR|dynamodb:TABLE]
                                                sign an oauth2 account in once: prints a URL (and a code),
                                                waits, and keeps the refresh token in --state; --browser
                                                (Google's default) signs in through a browser on this
                                                machine instead of a device code
  mailsift history [RUN_ID] [--account NAME] [--ruleset NAME] [--since DATE] [--json] [--state DIR|dynamodb:TABLE]
                                                the runs that changed mail, newest first (what each rule
                                                did), or one run in detail
  mailsift undo RUN_ID [--rule NAME] [--dry-run] [--json] [--accounts FILE] [--parameters FILE] [--state DIR|dynamodb:TABLE]
                                                take back what a run changed (moves, flags, copies, Trash);
                                                says what it could not and why
${STATE_USAGE}
${TEST_USAGE}
  mailsift schema [ruleset|test|webhook]        print the JSON Schema of rule files, test files or webhook payloads
  mailsift help                                 print this

Accounts come from --accounts FILE or $MAILSIFT_ACCOUNTS (YAML or JSON). Rule files' { parameter: /name }
references (webhook URLs and secrets) come from --parameters FILE or $MAILSIFT_PARAMETERS, a map of name to value.
Exit codes: 0 all rules succeeded, 1 a rule or connection failed, 2 usage or validation error.`;

/** Status updates at most this often: a webhook rule reports every message. */
const STATUS_INTERVAL_MS = 100;

const DEFAULT_RULE_PATHS = ['rules'];

async function commandRun(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      'dry-run': { type: 'boolean', default: false },
      full: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      accounts: { type: 'string' },
      parameters: { type: 'string' },
      'no-lease': { type: 'boolean', default: false },
      state: { type: 'string' },
      'state-lease': { type: 'string', default: 'state' },
      plan: { type: 'string' },
    },
  });
  if (values.plan !== undefined && !values['dry-run'])
    throw new UsageError('--plan FILE goes with --dry-run');
  const rulesets = loadRulesets(positionals.length > 0 ? positionals : DEFAULT_RULE_PATHS);
  const planRecorder = values.plan === undefined ? undefined : new PlanRecorder();
  const code = await runLoaded(rulesets, values, io, { planRecorder });
  if (planRecorder && values.plan) {
    writeFileSync(values.plan, `${JSON.stringify(planRecorder.plan(), null, 2)}\n`, { mode: 0o600 });
    io.stderr(`mailsift: the plan is in ${values.plan}; review it, then: mailsift apply ${values.plan}\n`);
  }
  return code;
}

interface RunValues {
  readonly 'dry-run': boolean;
  readonly full: boolean;
  readonly json: boolean;
  readonly accounts?: string;
  readonly parameters?: string;
  readonly 'no-lease': boolean;
  readonly state?: string;
  readonly 'state-lease': string;
}

/** Runs loaded rulesets as `run` does; `extra` makes it collect a plan, or keep to one (`apply`). */
async function runLoaded(
  rulesets: readonly Ruleset[],
  values: RunValues,
  io: CliIo,
  extra: { planRecorder?: PlanRecorder; plan?: PlanLimits },
): Promise<number> {
  const leaseMode = values['no-lease'] ? 'none' : values['state-lease'];
  if (leaseMode !== 'state' && leaseMode !== 'mailbox' && leaseMode !== 'none') {
    throw new UsageError(`--state-lease takes state or mailbox, not ${JSON.stringify(leaseMode)}`);
  }
  const accountsFile = values.accounts ?? io.env.MAILSIFT_ACCOUNTS;
  if (!accountsFile) throw new UsageError('no accounts file: pass --accounts FILE or set MAILSIFT_ACCOUNTS');
  const accounts = loadAccountsFile(accountsFile);
  const secrets = localSecretResolver(io.env, values.parameters ?? (io.env.MAILSIFT_PARAMETERS || undefined));
  // Resolve every account before connecting anywhere, so a typo fails before any mail is touched.
  const configured = await Promise.all(
    rulesets.map(async (ruleset) => ({ ruleset, account: await accounts.resolve(ruleset.account, secrets) })),
  );
  // Progress only for a person at a terminal: --json output and logs stay clean.
  const status = values.json ? undefined : io.status;
  let lastStatus = 0;
  const onProgress = status
    ? (progress: RuleProgress) => {
        const now = Date.now();
        const finished = progress.action === progress.actions && progress.done === progress.acted;
        if (now - lastStatus < STATUS_INTERVAL_MS && progress.done !== 0 && !finished) return;
        lastStatus = now;
        status(formatProgress(progress));
      }
    : undefined;
  const state = await openStateStore(values.state, io.env, { readOnly: values['dry-run'] });
  // Tokens are written even in a dry run: a rotated refresh token not kept would lock the account out.
  const tokenState = values['dry-run'] ? await openStateStore(values.state, io.env) : state;
  const resolved = configured.map(({ ruleset, account }) => ({
    ruleset,
    account: withTokens(account, tokenState),
  }));
  const options = {
    dryRun: values['dry-run'],
    // A plan's messages are found whatever the checkpoints say.
    fullScan: values.full || extra.plan !== undefined,
    secrets,
    onProgress,
    lease: leaseMode,
    state,
    ...extra,
  } as const;
  const summaries = await runRulesets(resolved, options, (summary) => {
    status?.('');
    io.stdout(values.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
  });
  return summaries.some(hasFailed) ? EXIT.ruleFailed : EXIT.ok;
}

/** `mailsift apply PLAN`: does what a reviewed plan says, on the planned messages that still match, nothing else. */
async function commandApply(args: string[], io: CliIo): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      accounts: { type: 'string' },
      parameters: { type: 'string' },
      state: { type: 'string' },
    },
  });
  const [file, ...paths] = positionals;
  if (!file)
    throw new UsageError('apply takes a plan file (from run --dry-run --plan FILE), then rule paths');
  const plan = readPlan(file);
  const loaded = loadRulesets(paths.length > 0 ? paths : DEFAULT_RULE_PATHS);
  const rulesets = plan.rulesets.map((planned) => {
    const ruleset = loaded.find(
      (candidate) => candidate.name === planned.ruleset && candidate.account === planned.account,
    );
    if (!ruleset)
      throw new UsageError(
        `the plan's ruleset ${planned.ruleset} for account ${planned.account} is not among the rule files`,
      );
    if (planDigest(ruleset) !== planned.digest) {
      throw new UsageError(
        `the rules of ${planned.ruleset} changed since the plan was made: make a new plan`,
      );
    }
    return ruleset;
  });
  const run = { ...values, 'dry-run': false, full: false, 'no-lease': false, 'state-lease': 'state' };
  return await runLoaded(rulesets, run, io, { plan: planLimits(plan) });
}

function commandValidate(args: string[], io: CliIo): number {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const ruleFiles = loadRuleFiles(positionals.length > 0 ? positionals : DEFAULT_RULE_PATHS);
  for (const file of ruleFiles) {
    io.stdout(
      `ok  ${file.name}: ${accountsText(file.accounts)}, ${file.schedule}, ${file.rules.length} rule(s)\n`,
    );
  }
  return EXIT.ok;
}

/** `account a`, `accounts a, b`, or for a long list its size and first names. */
function accountsText(accounts: readonly string[]): string {
  if (accounts.length === 1) return `account ${accounts[0]}`;
  const shown = accounts.slice(0, 5).join(', ');
  return accounts.length <= 5 ? `accounts ${shown}` : `${accounts.length} accounts (${shown}, …)`;
}

/** Runs the CLI; returns the exit code. Never throws for user errors: they are printed. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const [command, ...args] = argv;
  try {
    switch (command) {
      case 'validate':
        return commandValidate(args, io);
      case 'run':
        return await commandRun(args, io);
      case 'auth':
        return await commandAuth(args, io);
      case 'history':
        return await commandHistory(args, io);
      case 'undo':
        return await commandUndo(args, io);
      case 'apply':
        return await commandApply(args, io);
      case 'state':
        return await commandState(args, io);
      case 'test':
        return commandTest(args, io);
      case 'explain':
        return await commandExplain(args, io);
      case 'capture':
        return await commandCapture(args, io);
      case 'schema': {
        const which = args[0] ?? 'ruleset';
        const schemas = {
          ruleset: rulesetJsonSchema,
          test: testFileJsonSchema,
          webhook: webhookPayloadJsonSchema,
        };
        if (!Object.hasOwn(schemas, which)) throw new UsageError('schema takes ruleset, test or webhook');
        const schema = schemas[which as keyof typeof schemas]();
        io.stdout(`${JSON.stringify(schema, null, 2)}\n`);
        return EXIT.ok;
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout(`${USAGE}\n`);
        return command === undefined ? EXIT.usage : EXIT.ok;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    if (error instanceof RuleFileError) {
      io.stderr(`${error.message}\n${error.problems.length} problem(s); nothing was run.\n`);
      return EXIT.usage;
    }
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`mailsift: ${(error as Error).message}\n\n${USAGE}\n`);
      return EXIT.usage;
    }
    if (error instanceof AccountError) {
      io.stderr(`mailsift: ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof MailsiftError) {
      io.stderr(`mailsift: ${error.message}\n`);
      return EXIT.ruleFailed;
    }
    throw error;
  }
}
