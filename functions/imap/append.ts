import { toActionError } from './imap-errors.ts';
import { serverName } from './mailbox-names.ts';
import type { SessionCore } from './session-core.ts';
import { creatingOnTryCreate } from './transfer.ts';

/**
 * `APPEND` of `content` to `path`, creating the mailbox (unsubscribed: it is ours, not the user's) once if the
 * server answers [TRYCREATE]. Returns the new message's UID where the server tells it (APPENDUID, RFC 4315 §3).
 */
export async function appendMessage(
  core: SessionCore,
  path: string,
  content: string,
  flags: readonly string[],
): Promise<number | undefined> {
  let uid: number | undefined;
  await creatingOnTryCreate(core, path, { subscribe: false }, async () => {
    try {
      const appended = await core.client.append(serverName(core, path), content, [...flags]);
      uid = appended && typeof appended.uid === 'number' ? appended.uid : undefined;
    } catch (error) {
      throw toActionError('APPEND', error);
    }
  });
  return uid;
}
