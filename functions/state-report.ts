import { rulesByMailbox, rulesDigest } from './engine/scan.ts';
import { expandUidSet } from './imap/uid-set.ts';
import type { Ruleset } from './rules/schema.ts';
import { parseCheckpoint } from './state/checkpoints.ts';
import type { InspectableStore, RawRecord } from './state/inspect.ts';
import { catalogue } from './state/record-catalogue.ts';
import { scopePrefix } from './state-review.ts';

/** What mailsift remembers of one account, as `mailsift state show` prints it (never a token). */
export interface AccountReport {
  account: string;
  lease?: { holder: string; until: string; expired: boolean };
  checkpoints: CheckpointReport[];
  pendingExpunges: { mailbox: string; uidValidity: string; uids: string }[];
  copyJournal: { rule: string; from: string; to: string; uids: string }[];
  deliveries: { mailbox: string; keyword: string; messages: number }[];
  token: 'refresh token stored' | 'access token only' | 'none';
  history: { entries: number; bytes: number };
  /** Records the account has that cannot be read: see `mailsift state check`. */
  damaged: number;
  setAside: number;
}

export interface CheckpointReport {
  readonly ruleset: string;
  readonly mailbox: string;
  readonly uidValidity: string;
  readonly uidNext: number;
  readonly highestModseq: string;
  readonly at: string;
  readonly fullAt: string;
  /** Against the rule files given: `current`, `stale` (a full scan next), `unknown` (none given or not found). */
  readonly rules: 'current' | 'stale' | 'unknown';
}

/** Per account (or the one `scope`), what its records say; `rulesets` tell current checkpoints from stale. */
export async function stateReport(
  store: InspectableStore,
  scope: string | undefined,
  rulesets: readonly Ruleset[],
  now: number,
): Promise<AccountReport[]> {
  const digests = new Map<string, string>();
  for (const ruleset of rulesets)
    for (const [mailbox, rules] of rulesByMailbox(ruleset))
      digests.set(`${ruleset.name}\u0000${mailbox}`, rulesDigest(rules, mailbox));
  const byAccount = new Map<string, RawRecord[]>();
  for (const raw of await store.inspect(scopePrefix(scope))) {
    const { account, kind } = catalogue(raw.key);
    if (account === undefined || kind === 'tick') continue;
    byAccount.set(account, [...(byAccount.get(account) ?? []), raw]);
  }
  return [...byAccount].map(([account, records]) => accountReport(account, records, digests, now));
}

function accountReport(
  account: string,
  records: readonly RawRecord[],
  digests: ReadonlyMap<string, string>,
  now: number,
): AccountReport {
  const report: AccountReport = {
    account,
    checkpoints: [],
    pendingExpunges: [],
    copyJournal: [],
    deliveries: [],
    token: 'none',
    history: { entries: 0, bytes: 0 },
    damaged: 0,
    setAside: 0,
  };
  for (const raw of records) {
    const entry = catalogue(raw.key);
    const value = raw.record?.value as Record<string, unknown> | undefined;
    if (entry.kind === 'set aside') report.setAside += 1;
    else if (!value || typeof value !== 'object') report.damaged += 1;
    else add(report, entry.kind, entry.parts, value, { digests, now });
  }
  return report;
}

function add(
  report: AccountReport,
  kind: ReturnType<typeof catalogue>['kind'],
  parts: readonly string[],
  value: Record<string, unknown>,
  context: { readonly digests: ReadonlyMap<string, string>; readonly now: number },
): void {
  const [first = '', second = '', third = ''] = parts;
  const text = (field: string) => String(value[field] ?? '');
  if (kind === 'lease') {
    const expiresAt = Number(value.expiresAt);
    const rulesets = Array.isArray(value.rulesets) ? value.rulesets.join(',') : '';
    report.lease = {
      holder: `${rulesets || 'a run'} on ${text('host')}, pid ${text('pid')}`,
      until: new Date(expiresAt).toISOString(),
      expired: expiresAt <= context.now,
    };
  } else if (kind === 'checkpoint') {
    const checkpoint = parseCheckpoint(value);
    if (!checkpoint) {
      report.damaged += 1;
      return;
    }
    const expected = context.digests.get(`${first}\u0000${second}`);
    report.checkpoints.push({
      ruleset: first,
      mailbox: second,
      uidValidity: checkpoint.uidValidity.toString(),
      uidNext: checkpoint.uidNext,
      highestModseq: checkpoint.highestModseq.toString(),
      at: checkpoint.at.toISOString(),
      fullAt: checkpoint.fullAt.toISOString(),
      rules: expected === undefined ? 'unknown' : expected === checkpoint.digest ? 'current' : 'stale',
    });
  } else if (kind === 'pending expunge')
    report.pendingExpunges.push({ mailbox: first, uidValidity: second, uids: text('uids') });
  else if (kind === 'copy journal')
    report.copyJournal.push({
      rule: `${text('ruleset')}/${text('rule')}`,
      from: text('source'),
      to: text('target'),
      uids: text('uids'),
    });
  else if (kind === 'deliveries') addDeliveries(report, first, third, text('uids'));
  else if (kind === 'token' && first === 'refresh-token') report.token = 'refresh token stored';
  else if (kind === 'token' && first === 'access-token' && report.token === 'none')
    report.token = 'access token only';
  else if (kind === 'history entry') {
    report.history.entries += 1;
    report.history.bytes += JSON.stringify(value).length;
  }
}

/** Delivery blocks of one mailbox and keyword add up. */
function addDeliveries(report: AccountReport, mailbox: string, keyword: string, uids: string): void {
  const count = expandUidSet(uids).length;
  const same = report.deliveries.find((each) => each.mailbox === mailbox && each.keyword === keyword);
  if (same) same.messages += count;
  else report.deliveries.push({ mailbox, keyword, messages: count });
}
