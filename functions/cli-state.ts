import { parseArgs } from 'node:util';
import { type CliIo, EXIT } from './cli-io.ts';
import { UsageError } from './errors.ts';
import { formatCheck, formatForget, formatRepair, formatReport } from './format-state.ts';
import { loadRulesets } from './rules/load.ts';
import { type InspectableStore, isInspectable } from './state/inspect.ts';
import { openStateStore } from './state/open-store.ts';
import { catalogue } from './state/record-catalogue.ts';
import { stateReport } from './state-report.ts';
import { checkState, forgetAccount, repairState, scopePrefix } from './state-review.ts';

export const STATE_USAGE = `  mailsift state show [ACCOUNT] [--rules PATH]... [--json] [--state DIR|dynamodb:TABLE]
                                                what mailsift remembers per account: checkpoints (--rules
                                                tells current from stale), lease, pending expunges, copy
                                                journal, deliveries, whether a token is kept, history
  mailsift state check [ACCOUNT] [--json]       every record read; damaged and foreign ones listed with
                                                what they mean for the next run (exit 1 if damaged)
  mailsift state repair [ACCOUNT] [--json]      damaged records set aside (kept as *.damaged-TIME), and
                                                what the next run does without each
  mailsift state forget ACCOUNT [--mailbox M] [--yes|--dry-run]
                                                set aside what mailsift remembers of an account (or of one
                                                of its mailboxes), as after a move to another server`;

/** `mailsift state show|check|repair|forget`: what mailsift remembers, checked and put right. */
export async function commandState(args: string[], io: CliIo): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      state: { type: 'string' },
      rules: { type: 'string', multiple: true },
      mailbox: { type: 'string' },
      yes: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  const [verb, account, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`state ${verb} takes at most one ACCOUNT`);
  const readOnly = verb === 'show' || verb === 'check' || values['dry-run'];
  const store = await openStateStore(values.state, io.env, { readOnly });
  if (!isInspectable(store)) throw new UsageError(`${store.description} cannot be inspected`);
  const scope = account === undefined ? undefined : await scopeOf(store, account);
  const print = (json: unknown, text: string) => io.stdout(values.json ? `${JSON.stringify(json)}\n` : text);
  switch (verb) {
    case 'show': {
      const rulesets = values.rules ? loadRulesets(values.rules) : [];
      const reports = await stateReport(store, scope, rulesets, Date.now());
      print({ accounts: reports }, formatReport(store.description, reports));
      return EXIT.ok;
    }
    case 'check': {
      const check = await checkState(store, scope);
      print(check, formatCheck(store.description, check));
      return check.damaged.length > 0 ? EXIT.ruleFailed : EXIT.ok;
    }
    case 'repair': {
      const repaired = await repairState(store, scope, new Date());
      print({ setAside: repaired }, formatRepair(store.description, repaired));
      return EXIT.ok;
    }
    case 'forget':
      return await forget(store, scope, values, print);
    default:
      throw new UsageError('state takes show, check, repair or forget');
  }
}

async function forget(
  store: InspectableStore,
  scope: string | undefined,
  values: { readonly mailbox?: string; readonly yes: boolean; readonly 'dry-run': boolean },
  print: (json: unknown, text: string) => void,
): Promise<number> {
  if (scope === undefined) throw new UsageError('state forget takes the ACCOUNT to forget');
  const dryRun = values['dry-run'];
  if (!values.yes && !dryRun)
    throw new UsageError(
      `state forget sets aside what mailsift remembers of ${scope}: pass --yes (or --dry-run)`,
    );
  const forgotten = await forgetAccount(store, scope, { mailbox: values.mailbox, dryRun, now: new Date() });
  print({ forgotten, dryRun }, formatForget(scope, forgotten, dryRun));
  return EXIT.ok;
}

/**
 * The state scope (`user@host`) an ACCOUNT argument names: a scope that has records, or an account's name as the
 * runs' index knows it. Only when it names neither is every record read, to list the accounts that have state.
 */
async function scopeOf(store: InspectableStore, account: string): Promise<string> {
  if ((await store.inspect(scopePrefix(account))).length > 0) return account;
  const byName = new Map<string, string>();
  for (const raw of await store.inspect('mailsift-runs/')) {
    const value = raw.record?.value as { scope?: string; account?: string } | undefined;
    if (value?.scope && value.account) byName.set(value.account, decodeURIComponent(value.scope));
  }
  const scope = byName.get(account);
  if (scope) return scope;
  const known = new Set(byName.values());
  for (const raw of await store.inspect('')) {
    const entry = catalogue(raw.key);
    if (entry.account !== undefined && entry.kind !== 'tick') known.add(entry.account);
  }
  const names = [...known].sort().join(', ') || 'none';
  throw new UsageError(`no state for account ${JSON.stringify(account)} (accounts with state: ${names})`);
}
