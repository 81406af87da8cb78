import { parseArgs } from 'node:util';
import { hasFailed, type RuleProgress, runRulesets } from './engine/run.ts';
import { undoRun } from './engine/undo.ts';
import { AccountError, MailsiftError, RuleFileError, UsageError } from './errors.ts';
import { formatHistory, formatRun, formatUndo } from './format-history.ts';
import { formatProgress, formatSummary } from './format-summary.ts';
import { historyEntries } from './history.ts';
import { browserLogin } from './oauth/browser-login.ts';
import { deviceLogin } from './oauth/device-login.ts';
import { withTokens } from './oauth/tokens.ts';
import { loadRulesets } from './rules/load.ts';
import { rulesetJsonSchema } from './rules/schema.ts';
import { loadAccountsFile, localSecretResolver } from './secrets/local.ts';
import { openStateStore } from './state/open-store.ts';
import { accountScope } from './state/store.ts';
import { webhookPayloadJsonSchema } from './webhook/payload-schema.ts';

export const EXIT = { ok: 0, ruleFailed: 1, usage: 2 } as const;

const USAGE = `Usage:
  mailsift validate [files|dirs...]            check rule files (default: rules/)
  mailsift run [files|dirs...] [--dry-run] [--full] [--json] [--accounts FILE] [--parameters FILE]
               [--state DIR|dynamodb:TABLE] [--state-lease state|mailbox] [--no-lease]
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
  mailsift schema [ruleset|webhook]             print the JSON Schema of rule files or webhook payloads
  mailsift help                                 print this

Accounts come from --accounts FILE or $MAILSIFT_ACCOUNTS (YAML or JSON). Rule files' { parameter: /name }
references (webhook URLs and secrets) come from --parameters FILE or $MAILSIFT_PARAMETERS, a map of name to value.
Exit codes: 0 all rules succeeded, 1 a rule or connection failed, 2 usage or validation error.`;

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  /** Replaces the status line (a terminal's last line); absent when stderr is not a terminal. */
  readonly status?: (text: string) => void;
}

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
    },
  });
  const leaseMode = values['no-lease'] ? 'none' : values['state-lease'];
  if (leaseMode !== 'state' && leaseMode !== 'mailbox' && leaseMode !== 'none') {
    throw new UsageError(`--state-lease takes state or mailbox, not ${JSON.stringify(leaseMode)}`);
  }
  const rulesets = loadRulesets(positionals.length > 0 ? positionals : DEFAULT_RULE_PATHS);
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
    fullScan: values.full,
    secrets,
    onProgress,
    lease: leaseMode,
    state,
  } as const;
  const summaries = await runRulesets(resolved, options, (summary) => {
    status?.('');
    io.stdout(values.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
  });
  return summaries.some(hasFailed) ? EXIT.ruleFailed : EXIT.ok;
}

/** `mailsift auth login ACCOUNT`: a device login for an OAuth2 account; its refresh token goes to the state. */
async function commandAuth(args: string[], io: CliIo): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      accounts: { type: 'string' },
      parameters: { type: 'string' },
      state: { type: 'string' },
      browser: { type: 'boolean', default: false },
    },
  });
  const [verb, name] = positionals;
  if (verb !== 'login' || !name || positionals.length > 2) throw new UsageError('auth takes: login ACCOUNT');
  const accountsFile = values.accounts ?? io.env.MAILSIFT_ACCOUNTS;
  if (!accountsFile) throw new UsageError('no accounts file: pass --accounts FILE or set MAILSIFT_ACCOUNTS');
  const secrets = localSecretResolver(io.env, values.parameters ?? (io.env.MAILSIFT_PARAMETERS || undefined));
  const account = await loadAccountsFile(accountsFile).resolve(name, secrets);
  if (!account.oauth2)
    throw new UsageError(`account ${JSON.stringify(name)} signs in with a password, not oauth2`);
  const state = await openStateStore(values.state, io.env);
  const target = { state, scope: accountScope(account) };
  const say = (line: string) => io.stdout(`${line}\n`);
  // Google's device flow does not take the Gmail scope: a browser sign-in is the way there.
  const browser =
    values.browser || account.oauth2.provider === 'google' || !account.oauth2.deviceAuthorizationUrl;
  await (browser ? browserLogin(account.oauth2, target, say) : deviceLogin(account.oauth2, target, say));
  return EXIT.ok;
}

/** `mailsift history [RUN_ID]`: the runs the state remembers, newest first, or one of them in detail. */
async function commandHistory(args: string[], io: CliIo): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      account: { type: 'string' },
      ruleset: { type: 'string' },
      since: { type: 'string' },
      json: { type: 'boolean', default: false },
      state: { type: 'string' },
    },
  });
  const since = values.since === undefined ? undefined : Date.parse(values.since);
  if (since !== undefined && Number.isNaN(since))
    throw new UsageError(`--since takes a date, not ${values.since}`);
  const state = await openStateStore(values.state, io.env, { readOnly: true });
  const [id, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError('history takes at most one RUN_ID');
  const entries = await historyEntries(state, id, {
    account: values.account,
    ruleset: values.ruleset,
    since,
  });
  if (id !== undefined && entries.length === 0) {
    io.stderr(
      `mailsift: no run ${JSON.stringify(id)} in ${state.description} (kept for the rulesets' keepHistory)\n`,
    );
    return EXIT.ruleFailed;
  }
  if (values.json) for (const entry of entries) io.stdout(`${JSON.stringify(entry)}\n`);
  else io.stdout(id === undefined ? formatHistory(entries) : entries.map(formatRun).join(''));
  return EXIT.ok;
}

/** `mailsift undo RUN_ID`: takes back what a run changed, and says what it could not. */
async function commandUndo(args: string[], io: CliIo): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      rule: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      accounts: { type: 'string' },
      parameters: { type: 'string' },
      state: { type: 'string' },
    },
  });
  const [id, ...extra] = positionals;
  if (!id || extra.length > 0) throw new UsageError('undo takes one RUN_ID (see mailsift history)');
  const accountsFile = values.accounts ?? io.env.MAILSIFT_ACCOUNTS;
  if (!accountsFile) throw new UsageError('no accounts file: pass --accounts FILE or set MAILSIFT_ACCOUNTS');
  const state = await openStateStore(values.state, io.env);
  const [entry] = await historyEntries(state, id, {});
  if (!entry)
    throw new UsageError(`no run ${JSON.stringify(id)} in ${state.description}: see mailsift history`);
  const secrets = localSecretResolver(io.env, values.parameters ?? (io.env.MAILSIFT_PARAMETERS || undefined));
  const account = withTokens(await loadAccountsFile(accountsFile).resolve(entry.account, secrets), state);
  const report = await undoRun(entry, account, { state, dryRun: values['dry-run'], rule: values.rule });
  io.stdout(values.json ? `${JSON.stringify(report)}\n` : formatUndo(report));
  return EXIT.ok;
}

function commandValidate(args: string[], io: CliIo): number {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const rulesets = loadRulesets(positionals.length > 0 ? positionals : DEFAULT_RULE_PATHS);
  for (const ruleset of rulesets) {
    io.stdout(
      `ok  ${ruleset.name}: account ${ruleset.account}, ${ruleset.schedule}, ${ruleset.rules.length} rule(s)\n`,
    );
  }
  return EXIT.ok;
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
      case 'schema': {
        const which = args[0] ?? 'ruleset';
        if (which !== 'ruleset' && which !== 'webhook')
          throw new UsageError('schema takes ruleset or webhook');
        const schema = which === 'ruleset' ? rulesetJsonSchema() : webhookPayloadJsonSchema();
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
