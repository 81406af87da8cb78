import type { RuleProgress, RulesetSummary } from './engine/run.ts';

/**
 * Server-provided text (subjects, addresses, error text) is data: control characters, including terminal
 * escape sequences, are shown escaped instead of being written to the user's terminal.
 */
export function printable(text: string): string {
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** The human summary of one ruleset run. */
export function formatSummary(summary: RulesetSummary): string {
  const mode = summary.dryRun ? 'dry run, nothing changed' : 'run';
  const lines = [
    `${summary.ruleset} (account ${summary.account}, ${mode}, ${summary.durationMs} ms, ${summary.imapCommands} IMAP commands)`,
  ];
  if (summary.error) lines.push(`  FAILED: ${printable(summary.error)}`);
  if (summary.busy) {
    lines.push(
      `  SKIPPED: another run is working on this account (${printable(summary.busy.holder)}, ` +
        `until ${printable(summary.busy.until)} at the latest); nothing was changed`,
    );
  } else if (summary.incomplete) {
    lines.push('  INCOMPLETE: stopped early for time; the next run carries on');
  }
  for (const rule of summary.rules) {
    const verb = summary.dryRun ? 'would act on' : 'acted on';
    lines.push(
      `  ${rule.error ? 'FAIL' : 'ok  '} ${rule.name} [${printable(rule.mailbox)}]: matched ${rule.matched}, ${verb} ${rule.acted}${scanWord(rule)}`,
    );
    for (const action of rule.actions) {
      lines.push(
        `         ${action.type}${action.target ? ` ${printable(action.target)}` : ''}: ${action.count}`,
      );
    }
    for (const message of rule.sample ?? []) {
      const date = message.date?.slice(0, 10) ?? '(no date)';
      lines.push(`         - ${date}  ${printable(message.from ?? '')}  ${printable(message.subject ?? '')}`);
    }
    for (const failure of rule.failed ?? [])
      lines.push(`         failed uid ${failure.uid}: ${printable(failure.reason)}`);
    for (const skip of rule.skipped ?? [])
      lines.push(`         skipped uid ${skip.uid}: ${printable(skip.reason)}`);
    for (const warning of rule.warnings ?? []) lines.push(`         warning: ${printable(warning)}`);
    if (rule.error) lines.push(`         error: ${printable(rule.error)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** How the rule's SEARCH looked, in a word: `(incremental)`, or `(full: first run)`. */
function scanWord(rule: RulesetSummary['rules'][number]): string {
  if (rule.scan === undefined) return '';
  return rule.scan === 'full' ? ` (full: ${rule.scanReason})` : ' (incremental)';
}

/** One status line for a running rule, e.g. `file-invoices › file-invoices: matched 3038 · moveTo (2/2) 1000/1000`. */
export function formatProgress(progress: RuleProgress): string {
  const head = `${printable(progress.ruleset)} › ${progress.rule}: `;
  if (progress.action === 0) return `${head}matched ${progress.matched}`;
  const limited = progress.acted < progress.matched ? `, acting on ${progress.acted}` : '';
  return (
    `${head}matched ${progress.matched}${limited} · ${progress.actionType} ` +
    `(${progress.action}/${progress.actions}) ${progress.done}/${progress.acted}`
  );
}
