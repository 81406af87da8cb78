import { parseRuleset } from '../../functions/rules/load.ts';
import type { Ruleset } from '../../functions/rules/schema.ts';
import type { MessageState } from './dovecot.ts';
import { idOf } from './mail.ts';

/** A ruleset parsed through the real loader, from just its `rules:` (and optional `mailbox:`) YAML. */
export function rulesetOf(yaml: string, name = 'test'): Ruleset {
  return parseRuleset(`rules/${name}.yaml`, `account: test\nschedule: rate(5 minutes)\n${yaml}`);
}

/** Test message ids (as given to makeMail) in `mailbox` that carry `flag`, or all of them without one. */
export function idsIn(state: Map<string, MessageState[]>, mailbox: string, flag?: string): string[] {
  return (state.get(mailbox) ?? [])
    .filter((message) => flag === undefined || message.flags.includes(flag))
    .map((message) => message.messageId.replace(/^<(.*)@test>$/, '$1'))
    .sort();
}

export { idOf };
