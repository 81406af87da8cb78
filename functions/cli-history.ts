import { parseArgs } from 'node:util';
import { type CliIo, EXIT } from './cli-io.ts';
import { undoRun } from './engine/history/undo.ts';
import { UsageError } from './errors.ts';
import { formatHistory, formatRun, formatUndo } from './format-history.ts';
import { historyEntries, type UnreadableRun } from './history.ts';
import { withTokens } from './oauth/tokens.ts';
import { loadAccountsFile, localSecretResolver } from './secrets/local.ts';
import { openStateStore } from './state/open-store.ts';

/** `mailsift history [RUN_ID]`: the runs the state remembers, newest first, or one of them in detail. */
export async function commandHistory(args: string[], io: CliIo): Promise<number> {
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
  const unreadable: UnreadableRun[] = [];
  const filter = { account: values.account, ruleset: values.ruleset, since };
  const entries = await historyEntries(state, id, filter, (run) => unreadable.push(run));
  for (const run of unreadable) io.stderr(`mailsift: run ${run.id} cannot be read: ${run.why}\n`);
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
export async function commandUndo(args: string[], io: CliIo): Promise<number> {
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
