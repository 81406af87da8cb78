import type { Explained } from './match/evaluate.ts';
import type { CaseResult } from './testing/rule-tests.ts';

/** A match tree as `explain` prints it: each condition with ✓ or ✗ and the value it looked at. */
export function formatExplained(node: Explained, indent = ''): string {
  const mark = node.matched ? '✓' : '✗';
  const saw = node.saw === undefined ? '' : `  (${node.saw})`;
  const own = `${indent}${mark} ${node.label}${saw}\n`;
  return own + (node.children ?? []).map((child) => formatExplained(child, `${indent}  `)).join('');
}

const list = (items: readonly string[]) => `[${items.join(', ')}]`;

/** One case as `mailsift test` prints it: `ok` or `not ok`, and for a failure what differs and why. */
export function formatCase(result: CaseResult): string {
  const head = `${result.ok ? 'ok' : 'not ok'}  ${result.file}: ${result.name}\n`;
  if (result.ok) return head;
  if (result.error) return `${head}    ${result.error}\n`;
  const lines = [
    `    expected acts:    ${list(result.expected.acts)}`,
    `    acts:             ${list(result.acts)}`,
    ...(result.expected.actions
      ? [
          `    expected actions: ${list(result.expected.actions)}`,
          `    actions:          ${list(result.actions)}`,
        ]
      : []),
  ];
  // The rules whose acting differs from what was expected, with why they did or did not act.
  const differing = (result.simulation?.rules ?? []).filter(
    (rule) => result.expected.acts.includes(rule.rule) !== result.acts.includes(rule.rule),
  );
  const shown =
    differing.length > 0
      ? differing
      : (result.simulation?.rules ?? []).filter((rule) => rule.outcome === 'acts');
  const trees = shown.map((rule) => {
    const why = rule.by ? ` (by ${rule.by})` : '';
    const tree = rule.explained ? formatExplained(rule.explained, '      ') : '';
    return `    rule ${rule.rule}: ${rule.outcome}${why}\n${tree}`;
  });
  return `${head}${lines.join('\n')}\n${trees.join('')}`;
}

/** The whole run: a line (or block) per case, then the counts. */
export function formatCases(results: readonly CaseResult[]): string {
  const failed = results.filter((result) => !result.ok).length;
  return `${results.map(formatCase).join('')}${results.length - failed} passed, ${failed} failed\n`;
}
