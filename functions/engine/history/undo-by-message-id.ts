import { expandUidSet } from '../../imap/uid-set.ts';
import { type JournalAction, type JournalEntry, journalSet, orderedSet } from '../../state/run-journal.ts';
import { messageIdOf } from '../message-id-trail.ts';
import { line, sameMailbox, type Undoing } from './undo-kit.ts';

/**
 * The run's moves and copies on a server without UIDPLUS named no new UIDs; the run wrote down the target's
 * UIDNEXT and the Message-IDs instead (message-id-trail.ts). This finds, among the messages that arrived in the
 * target from that UIDNEXT on, one per Message-ID, and gives each such action the source → new UID map COPYUID
 * would have given: the undo then goes on as with UIDPLUS. Messages not found are reported and left out.
 */
export async function withUidsFoundByMessageId(
  undoing: Omit<Undoing, 'moves'>,
  entry: JournalEntry,
  wanted: (rule: string) => boolean,
): Promise<JournalEntry> {
  const rules = [];
  for (const rule of entry.rules) {
    if (!wanted(rule.name)) {
      rules.push(rule);
      continue;
    }
    const actions: JournalAction[] = [];
    for (const action of rule.actions) {
      const to = action.to;
      const traced = to?.messageIds && !to.uids && to.uidNext !== undefined && action.uids;
      // The target's UIDNEXT before the run, less one: the highest UID that was there then.
      const known = traced && to.uidNext > 1 ? [to.uidNext - 1] : [];
      if (!traced || (await sameMailbox(undoing, to.mailbox, to.uidValidity, known))) {
        actions.push(action); // reported where its step runs
        continue;
      }
      const found = await findByMessageId(undoing, action);
      const missing = action.count - found.sources.length;
      if (missing > 0)
        undoing.report.notUndone.push(
          line(rule, action, `not found by Message-ID in ${to.mailbox} (the server has no UIDPLUS)`, missing),
        );
      actions.push({
        ...action,
        uids: journalSet(found.sources),
        count: found.sources.length,
        to: { ...to, uids: orderedSet(found.targets), messageIds: found.ids, foundByMessageId: true },
      });
    }
    rules.push({ ...rule, actions });
  }
  return { ...entry, rules };
}

/** With the target open: each source UID's message, by its Message-ID, among those from the trail's UIDNEXT on. */
async function findByMessageId(undoing: Omit<Undoing, 'moves'>, action: JournalAction) {
  const to = action.to as NonNullable<JournalAction['to']>;
  const arrived = await undoing.session.fetchFrom(to.uidNext as number, { headers: ['message-id'] });
  const byId = new Map<string, number[]>();
  for (const message of [...arrived].sort((a, b) => a.uid - b.uid)) {
    const id = messageIdOf(message);
    // `from:*` also names the highest UID when none is that new (RFC 3501 §6.4.8): not one of the run's.
    if (id === undefined || message.uid < (to.uidNext as number)) continue;
    const list = byId.get(id) ?? [];
    list.push(message.uid);
    byId.set(id, list);
  }
  const sources: number[] = [];
  const targets: number[] = [];
  const ids: string[] = [];
  expandUidSet(action.uids).forEach((uid, index) => {
    const id = to.messageIds?.[index];
    // Each arrival stands for one message of the run: two with one Message-ID take two, in order.
    const next = id ? byId.get(id)?.shift() : undefined;
    if (next === undefined) return;
    sources.push(uid);
    targets.push(next);
    ids.push(id as string);
  });
  return { sources, targets, ids };
}
