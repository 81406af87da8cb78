import type { FactNeed } from './define.ts';
import type { MessageFacts } from './facts.ts';
import { leavesOf, type MatchTree } from './tree.ts';

/** One node of a match as `explain` shows it: what it asked, whether it held, and the value it looked at. */
export interface Explained {
  /** `subject "invoice"`, `any`, `not`, or `all` for a match object of several parts. */
  readonly label: string;
  readonly matched: boolean;
  readonly saw?: string;
  readonly children?: readonly Explained[];
}

/**
 * Decides a match offline for one message, as a real run does (the SEARCH keys as the server would, the client
 * keys by the client's own checks), keeping every step for `explain`. Every part is evaluated, also after one
 * failed, so that the tree shows each.
 * @throws OfflineEvaluationError for a key that cannot be decided offline (gmailSearch)
 */
export function explainMatch(
  match: MatchTree,
  message: MessageFacts,
  context: { readonly now: Date },
): Explained {
  const children: Explained[] = leavesOf(match).map(({ definition, value }) => {
    const verdict = definition.evaluate(value, message, context);
    return { label: `${definition.key} ${labelOf(value)}`, matched: verdict.matched, saw: verdict.saw };
  });
  if (match.any) {
    const branches = match.any.map((inner) => explainMatch(inner, message, context));
    children.push({ label: 'any', matched: branches.some((branch) => branch.matched), children: branches });
  }
  if (match.not) {
    const inner = explainMatch(match.not, message, context);
    children.push({ label: 'not', matched: !inner.matched, children: [inner] });
  }
  if (children.length === 1) return children[0] as Explained;
  return { label: 'all', matched: children.every((child) => child.matched), children };
}

/** Whether a match holds for one message offline (explainMatch's verdict). */
export function matchesOffline(
  match: MatchTree,
  message: MessageFacts,
  context: { readonly now: Date },
): boolean {
  return explainMatch(match, message, context).matched;
}

/** What of a message a match needs read beyond envelope, structure, flags, size and date. */
export function needsOf(match: MatchTree): Set<FactNeed> {
  const needs = new Set<FactNeed>();
  for (const { definition } of leavesOf(match)) if (definition.reads) needs.add(definition.reads);
  for (const inner of [...(match.any ?? []), ...(match.not ? [match.not] : [])]) {
    for (const need of needsOf(inner)) needs.add(need);
  }
  return needs;
}

function labelOf(value: unknown): string {
  return typeof value === 'string'
    ? JSON.stringify(value)
    : JSON.stringify(value).replace(/"([\w.-]+)":/g, '$1: ');
}
