import { addFlags } from './add-flags.ts';
import { copyTo } from './copy-to.ts';
import type { ActionDefinition, ShapeOf } from './define.ts';
import { deleteMessages } from './delete.ts';
import { moveTo } from './move-to.ts';
import { removeFlags } from './remove-flags.ts';
import type { ActionContext, ActionOutcome } from './types.ts';
import { webhook } from './webhook.ts';

export type { ActionContext, ActionOutcome, ServerFacts } from './types.ts';

/**
 * Every action a rule file can name, in the order the schema lists them. Adding an action is adding its file
 * and a line here: the schema, the dispatcher, the expunge and exclusion decisions and the CDK's IAM list loop
 * over this.
 */
export const ACTIONS = [addFlags, removeFlags, copyTo, moveTo, deleteMessages, webhook] as const;

export type ActionShape = ShapeOf<typeof ACTIONS>;

/** One action of a rule: its definition and its parameters. */
export interface ActionStep {
  readonly definition: ActionDefinition;
  readonly params: unknown;
}

/**
 * The definition of a validated action (an object with exactly one key) and its parameters. It takes any object,
 * not the schema's Action type: the schema is built from this registry, and the registry does not import it.
 */
export function stepOf(action: object): ActionStep {
  const [key, params] = Object.entries(action)[0] ?? [];
  const definition: ActionDefinition | undefined = ACTIONS.find((each) => each.key === key);
  if (!definition) throw new Error(`no action definition for ${JSON.stringify(key)}`);
  return { definition, params };
}

/** Applies one step to the context's UIDs. */
export async function applyStep(step: ActionStep, context: ActionContext): Promise<ActionOutcome> {
  return await step.definition.apply(step.params, context);
}
