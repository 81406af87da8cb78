import type { AccountReport, CheckpointReport } from './state-report.ts';
import type { Finding, StateCheck } from './state-review.ts';

/** `mailsift state show`: per account, what mailsift remembers. */
export function formatReport(where: string, reports: readonly AccountReport[]): string {
  if (reports.length === 0) return `nothing remembered in ${where}\n`;
  return reports.map(formatAccount).join('\n');
}

function formatAccount(report: AccountReport): string {
  const lines = [`account ${report.account}`];
  const { lease } = report;
  lines.push(
    lease
      ? `  lease: ${lease.expired ? 'free (last held by' : 'held by'} ${lease.holder}${lease.expired ? ')' : `, until ${lease.until}`}`
      : '  lease: free',
  );
  lines.push(`  checkpoints:${report.checkpoints.length === 0 ? ' none (the next run scans in full)' : ''}`);
  for (const checkpoint of report.checkpoints) lines.push(`    ${formatCheckpoint(checkpoint)}`);
  for (const each of report.pendingExpunges)
    lines.push(`  pending expunge: ${each.mailbox} (UIDVALIDITY ${each.uidValidity}) UIDs ${each.uids}`);
  for (const each of report.copyJournal)
    lines.push(`  open copy journal: ${each.rule}, ${each.from} → ${each.to}, UIDs ${each.uids}`);
  for (const each of report.deliveries)
    lines.push(`  deliveries: ${each.mailbox}, keyword ${each.keyword}: ${each.messages} message(s) posted`);
  lines.push(`  token: ${report.token}`);
  lines.push(
    `  history: ${report.history.entries} entr${report.history.entries === 1 ? 'y' : 'ies'}, ${kilobytes(report.history.bytes)}`,
  );
  if (report.damaged > 0) lines.push(`  damaged: ${report.damaged} record(s): see mailsift state check`);
  if (report.setAside > 0) lines.push(`  set aside: ${report.setAside} record(s)`);
  return `${lines.join('\n')}\n`;
}

function formatCheckpoint(checkpoint: CheckpointReport): string {
  const rules = {
    current: 'rules current',
    stale: 'rules changed since: a full scan next',
    unknown: 'rules not compared (--rules)',
  };
  return (
    `${checkpoint.ruleset} / ${checkpoint.mailbox}: UIDVALIDITY ${checkpoint.uidValidity}, UIDNEXT ${checkpoint.uidNext}, ` +
    `HIGHESTMODSEQ ${checkpoint.highestModseq}, at ${checkpoint.at}, last full scan ${checkpoint.fullAt}, ${rules[checkpoint.rules]}`
  );
}

function kilobytes(bytes: number): string {
  return bytes < 1024 ? `${bytes} bytes` : `${(bytes / 1024).toFixed(1)} KB`;
}

/** `mailsift state check`: damaged and foreign records, each with what it means for the next run. */
export function formatCheck(where: string, check: StateCheck): string {
  const lines = [`${check.records} record(s) read in ${where}`];
  for (const finding of check.damaged) lines.push(...findingLines('damaged', finding));
  for (const finding of check.foreign) lines.push(...findingLines('foreign', finding));
  lines.push(
    check.damaged.length === 0
      ? 'no damaged record'
      : `${check.damaged.length} damaged record(s): mailsift state repair sets them aside`,
  );
  return `${lines.join('\n')}\n`;
}

function findingLines(label: string, finding: Finding): string[] {
  return [
    `${label}: ${finding.kind} ${finding.where}`,
    `  ${finding.problem}`,
    `  next run: ${finding.nextRun}`,
  ];
}

/** `mailsift state repair`: where each damaged record went, and what the next run does without it. */
export function formatRepair(
  where: string,
  repaired: readonly (Finding & { readonly aside: string })[],
): string {
  if (repaired.length === 0) return `no damaged record in ${where}: nothing to repair\n`;
  const lines = repaired.flatMap((finding) => [
    `set aside: ${finding.kind} → ${finding.aside}`,
    `  it was: ${finding.problem}`,
    `  next run: ${finding.nextRun}`,
  ]);
  return `${lines.join('\n')}\n${repaired.length} record(s) set aside, none deleted\n`;
}

/** `mailsift state forget`. */
export function formatForget(scope: string, forgotten: readonly Finding[], dryRun: boolean): string {
  const verb = dryRun ? 'would set aside' : 'set aside';
  const lines = forgotten.map((finding) => `${verb}: ${finding.kind} ${finding.where}`);
  lines.push(
    `${forgotten.length} record(s) of ${scope} ${dryRun ? 'would be' : 'were'} set aside (kept, not deleted)`,
  );
  return `${lines.join('\n')}\n`;
}
