import type { UndoReport } from './engine/history/undo.ts';
import { printable } from './format-summary.ts';
import type { JournalAction, JournalEntry } from './state/run-journal.ts';

/** `flags addFlags 2, removeFlags 2 · move moveTo Finance 2`: what each rule of a run did, on one line. */
function counts(entry: JournalEntry): string {
  return entry.rules
    .map(
      (rule) =>
        `${rule.name}: ${rule.actions.map((action) => `${describe(action)} ${action.count}`).join(', ')}`,
    )
    .join(' · ');
}

function describe(action: JournalAction): string {
  return action.target ? `${action.type} ${action.target}` : action.type;
}

/** One line per run, newest first: id, start, ruleset and account, then counts per rule and action. */
export function formatHistory(entries: readonly JournalEntry[]): string {
  if (entries.length === 0) return 'No runs in the history.\n';
  return entries
    .map((entry) => {
      const when = entry.startedAt.slice(0, 16).replace('T', ' ');
      const undo = entry.undoes ? ` (undo of ${entry.undoes})` : '';
      return `${entry.id}  ${when}  ${entry.ruleset} (account ${entry.account})${undo}  ${counts(entry)}\n`;
    })
    .join('');
}

/** A run in detail: every rule and action, the mailboxes and UIDs, where messages went. */
export function formatRun(entry: JournalEntry): string {
  const lines = [
    `run ${entry.id}: ruleset ${entry.ruleset}, account ${entry.account}`,
    `  ${entry.startedAt} to ${entry.endedAt}${entry.undoes ? `, an undo of ${entry.undoes}` : ''}`,
  ];
  for (const rule of entry.rules) {
    lines.push(`  rule ${rule.name} in ${rule.mailbox} (UIDVALIDITY ${rule.uidValidity})`);
    for (const action of rule.actions) {
      const where = action.to
        ? ` → ${action.to.mailbox}${action.to.uids ? ` as UIDs ${action.to.uids}` : ''}`
        : '';
      const changed = action.changed
        ? ` (changed: ${
            Object.entries(action.changed)
              .map(([flag, uids]) => `${flag} on ${uids}`)
              .join('; ') || 'nothing'
          })`
        : '';
      const gone = action.expunged ? ' (expunged for good)' : '';
      lines.push(
        `    ${describe(action)}: ${action.count} message(s), UIDs ${action.uids || '(not kept)'}${where}${changed}${gone}`,
        ...(action.posted ?? []).map(
          (post) => `      UID ${post.uid} answered ${post.status}, Idempotency-Key ${post.idempotencyKey}`,
        ),
      );
    }
    for (const message of rule.sample ?? []) lines.push(`    e.g. ${sampleLine(message)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `UID 7, 2026-11-30 Acme Billing <billing@acme.example>: Invoice 10001`, server text shown as data. */
function sampleLine(message: NonNullable<JournalEntry['rules'][number]['sample']>[number]): string {
  const date = message.date?.slice(0, 10) ?? '(no date)';
  return `UID ${message.uid}, ${date} ${printable(message.from ?? '')}: ${printable(message.subject ?? '')}`;
}

/** What an undo did and could not do, one line per rule and action. */
export function formatUndo(report: UndoReport): string {
  const verb = report.dryRun ? 'would restore' : 'restored';
  const lines = [
    `undo of ${report.runId}${report.dryRun ? ' (dry run: nothing changed)' : ''}${report.undoId ? `, recorded as ${report.undoId}` : ''}`,
    ...report.restored.map(
      (entry) =>
        `  ${verb}  ${entry.rule}: ${entry.action}: ${entry.count}${entry.why ? ` (${entry.why})` : ''}`,
    ),
    ...report.notUndone.map(
      (entry) => `  not undone  ${entry.rule}: ${entry.action}: ${entry.count} (${entry.why})`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}
