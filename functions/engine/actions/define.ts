import type { output, ZodOptional, ZodType } from 'zod';
import type { SchemaKit } from '../../rules/schema-kit.ts';
import type { ActionContext, ActionOutcome, ActionSpec, FlagChange, ServerFacts } from './types.ts';

/** An action as the registry holds it: the same for every action, so the engine loops instead of switching. */
export interface ActionDefinition<Key extends string = string, Schema extends ZodType = ZodType> {
  readonly key: Key;
  readonly schema: (kit: SchemaKit) => Schema;
  readonly removesMessages: boolean;
  mayExpunge(params: unknown, server: Pick<ServerFacts, 'hasMove'>): boolean;
  relocates(params: unknown, server: { readonly labels: boolean }): boolean;
  preflight(params: unknown, server: ServerFacts): void;
  deliveryMark(params: unknown, ruleName: string): string | undefined;
  flagChange(params: unknown): FlagChange | undefined;
  parameters(params: unknown): readonly string[];
  describe(params: unknown): string;
  apply(params: unknown, context: ActionContext): Promise<ActionOutcome>;
}

/**
 * Registers an action. Its params reach it as `unknown` and are taken as its own schema's output: the rules
 * loader validated them against exactly that schema (ActionSchema is built from the registry), the one place
 * where this is known and not checked again.
 */
export function defineAction<Key extends string, Schema extends ZodType>(
  spec: ActionSpec<Key, Schema>,
): ActionDefinition<Key, Schema> {
  const own = (params: unknown) => params as output<Schema>;
  return {
    key: spec.key,
    schema: spec.schema,
    removesMessages: spec.removesMessages,
    mayExpunge: (params, server) => spec.mayExpunge?.(own(params), server) ?? false,
    relocates: (params, server) => spec.relocates?.(own(params), server) ?? false,
    preflight: (params, server) => spec.preflight?.(own(params), server),
    deliveryMark: (params, ruleName) => spec.deliveryMark?.(own(params), ruleName),
    flagChange: (params) => spec.flagChange?.(own(params)),
    parameters: (params) => spec.parameters?.(own(params)) ?? [],
    describe: (params) => spec.describe?.(own(params)) ?? `${spec.key} ${String(params)}`,
    apply: (params, context) => spec.apply(own(params), context),
  };
}

/** The rule-file shape of a list of definitions: each key optional, with its own schema. */
export type ShapeOf<Definitions extends readonly ActionDefinition[]> = {
  [D in Definitions[number] as D['key']]: ZodOptional<ReturnType<D['schema']>>;
};
