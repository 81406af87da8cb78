import type { Action } from '../../rules/schema.ts';
import { applyAddFlags } from './add-flags.ts';
import { applyCopyTo } from './copy-to.ts';
import { applyDelete } from './delete.ts';
import { applyMoveTo } from './move-to.ts';
import { applyRemoveFlags } from './remove-flags.ts';
import type { ActionContext, ActionOutcome } from './types.ts';
import { applyWebhook } from './webhook.ts';

export type { ActionContext, ActionOutcome } from './types.ts';

/** One handler per action key; adding an action is adding a file and a line here. */
const ACTION_HANDLERS = {
  addFlags: applyAddFlags,
  removeFlags: applyRemoveFlags,
  copyTo: applyCopyTo,
  moveTo: applyMoveTo,
  delete: applyDelete,
  webhook: applyWebhook,
} as const;

type ActionKey = keyof typeof ACTION_HANDLERS;

/** Applies one validated action (an object with exactly one key) to the context's UIDs. */
export async function applyAction(action: Action, context: ActionContext): Promise<ActionOutcome> {
  const [key, params] = Object.entries(action)[0] as [ActionKey, never];
  return await ACTION_HANDLERS[key](params, context);
}
