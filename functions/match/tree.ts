import type { output } from 'zod';
import type { MatchKeyDefinition } from './define.ts';
import { MATCH_KEYS } from './keys/index.ts';

type LeafValues = {
  readonly [D in (typeof MATCH_KEYS)[number] as D['key']]?: output<ReturnType<D['schema']>>;
};

/** A rule's match: leaf keys (all must hold), `any` (one of the list) and `not`. The schema's output type. */
export type MatchTree = LeafValues & { readonly any?: readonly MatchTree[]; readonly not?: MatchTree };

/** The leaf keys a match object names, each with its definition and value, in registry order. */
export function leavesOf(node: MatchTree): { definition: MatchKeyDefinition; value: unknown }[] {
  const values = node as Readonly<Record<string, unknown>>;
  return MATCH_KEYS.filter((definition) => values[definition.key] !== undefined).map((definition) => ({
    definition,
    value: values[definition.key],
  }));
}
