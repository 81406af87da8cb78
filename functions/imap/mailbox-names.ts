import { normalizePath } from 'imapflow/lib/tools.js';
import { MailboxNameError } from '../errors.ts';
import type { SessionCore } from './session-core.ts';

/**
 * Rule files name mailboxes with `/` between levels, whatever the server. The server's own name puts its personal
 * namespace prefix in front and its hierarchy delimiter between the levels (NAMESPACE, RFC 2342): `Finance/Invoices`
 * is `INBOX.Finance.Invoices` on Courier and on Cyrus with its default namespace.
 * @throws MailboxNameError when a level holds the server's delimiter: no name on that server means it.
 */
export function serverName(core: SessionCore, name: string): string {
  const delimiter = delimiterOf(core);
  if (delimiter === '/' || name.toUpperCase() === 'INBOX') return normalizePath(core.client, name);
  const levels = name.split('/');
  const unsayable = levels.find((level) => level.includes(delimiter));
  if (unsayable !== undefined) {
    throw new MailboxNameError(
      `mailbox ${JSON.stringify(name)} cannot be named on this server: its hierarchy delimiter is ` +
        `${JSON.stringify(delimiter)}, which ${JSON.stringify(unsayable)} contains; rename the folder in the rule file`,
    );
  }
  return normalizePath(core.client, levels.join(delimiter));
}

/** The rule-file name of a mailbox the server named: its namespace prefix off, `/` between levels. */
export function userName(core: SessionCore, name: string): string {
  const delimiter = delimiterOf(core);
  const prefix = core.client.namespace?.prefix ?? '';
  const own =
    prefix && name.startsWith(prefix) && name.length > prefix.length ? name.slice(prefix.length) : name;
  return delimiter === '/' ? own : own.split(delimiter).join('/');
}

function delimiterOf(core: SessionCore): string {
  return core.client.namespace?.delimiter || '/';
}
