import { ImapConnectError } from '../errors.ts';
import type { FetchMessageObject } from '../imap/session.ts';
import type { ActionContext } from './actions/types.ts';

/** What a webhook knows of its earlier deliveries in the selected mailbox, and how it records new ones. */
export interface Delivered {
  /** Messages delivered by an earlier run (to pass on, never to post again), and the rest, to post. */
  split(
    messages: readonly FetchMessageObject[],
  ): Promise<{ deliveredBefore: number[]; toPost: FetchMessageObject[] }>;
  /**
   * Records a 2xx: in the state store first (every server), then as the keyword where the mailbox keeps it. A
   * failed state write still gets the keyword, which then records the delivery alone; without one it throws.
   */
  record(uid: number): Promise<void>;
  /** A lost connection ends the rule; any other recording failure is a failed delivery. */
  rethrowIfConnectionLost(error: unknown): void;
}

const NOTHING_RECORDED: Delivered = {
  split: async (messages) => ({ deliveredBefore: [], toPost: [...messages] }),
  record: async () => undefined,
  rethrowIfConnectionLost: () => undefined,
};

/**
 * The deliveries under `keyword` (none without dedupe). Without dedupe the keyword means nothing, even where an
 * earlier version of the rule left it. A message the state store has as delivered but that lacks the keyword
 * (the run was cut between the two writes) gets it now, in one STORE, so that SEARCH leaves it out again.
 */
export async function openDeliveries(
  context: ActionContext,
  keyword: string | undefined,
): Promise<Delivered> {
  if (keyword === undefined) return NOTHING_RECORDED;
  const { session, mailbox, state } = context;
  const log = state.deliveries(mailbox, keyword);
  const storable = session.canStore(keyword);
  const inState = await log.load({ refresh: true });
  return {
    split: async (messages) => {
      // Flag names compare without regard to case, as delivery-exclusions.ts compares them.
      const folded = keyword.toLowerCase();
      const hasKeyword = (message: FetchMessageObject) =>
        storable && [...(message.flags ?? [])].some((flag) => flag.toLowerCase() === folded);
      const deliveredBefore = messages.filter((message) => hasKeyword(message) || inState.has(message.uid));
      const unmarked = deliveredBefore
        .filter((message) => storable && !hasKeyword(message))
        .map((m) => m.uid);
      if (unmarked.length > 0) await session.storeFlags(unmarked, 'add', [keyword]);
      const before = new Set(deliveredBefore.map((message) => message.uid));
      return {
        deliveredBefore: [...before],
        toPost: messages.filter((message) => !before.has(message.uid)),
      };
    },
    record: async (uid) => {
      const written = await log.add(uid).then(
        () => undefined,
        (error: unknown) => error,
      );
      if (storable) await session.storeFlags([uid], 'add', [keyword]);
      else if (written !== undefined) throw written;
    },
    rethrowIfConnectionLost: (error) => {
      if (error instanceof ImapConnectError) throw error;
    },
  };
}
