import { randomUUID } from 'node:crypto';
import { ImapActionError } from '../errors.ts';
import type { ImapSession } from '../imap/session.ts';
import {
  AccountBusyError,
  type AccountLease,
  describeHolder,
  holdsAccount,
  LeaseError,
  type LeaseHolder,
} from '../state/lease.ts';
import { LEASES_HELD_HERE, THIS_MACHINE, thisProcess } from '../state/machine.ts';

/**
 * The mailbox that holds the tickets of running runs, one small message each (`--state-lease mailbox`).
 * Created on the first run and never subscribed, so that mail clients showing subscribed folders do not show it.
 */
export const LEASE_MAILBOX = 'mailsift-lease';

const TICKET_HEADER = 'X-Mailsift-Lease';

type Ticket = LeaseHolder & { readonly uid: number };

/**
 * Takes the account for one run, so that two runs never work on the same mail at once: two MOVEs of one
 * message can both succeed (Dovecot then holds two copies), and two webhooks can both post before either
 * stores its delivery keyword.
 *
 * A ticket lock on the server itself, so it holds across processes and machines: each run APPENDs a ticket,
 * and the server gives it a UID higher than every ticket appended before (RFC 3501 §2.3.1.1). The run holds
 * the account when no live ticket has a lower UID; otherwise it deletes its ticket and throws. A ticket is
 * dead when it expired, or when it was written on this machine by a process that is gone (or by this process,
 * for a lease it no longer holds); dead tickets never block and are cleaned up on release.
 * @throws AccountBusyError, or an IMAP error when the lease mailbox cannot be written.
 */
export async function acquireMailboxLease(
  session: ImapSession,
  options: { account: string; rulesets: readonly string[]; durationMs: number; now?: () => number },
): Promise<AccountLease> {
  const clock = options.now ?? Date.now;
  const token = randomUUID();
  const expiresAt = clock() + options.durationMs;
  // Known here before the server shows the ticket: another run of this process that reads it meanwhile must
  // see it live, or it would take it for a dead one (and go ahead of it, or delete it).
  LEASES_HELD_HERE.add(token);
  try {
    const message = ticketMessage(
      options.account,
      ticketFields(token, expiresAt, options.rulesets),
      new Date(clock()),
    );
    await session.appendMessage(LEASE_MAILBOX, message, ['\\Seen']);
    await session.openMailbox(LEASE_MAILBOX, false);
    const tickets = parseTickets(await session.fetchEvery({ headers: [TICKET_HEADER.toLowerCase()] }));
    const { ours, ahead, dead } = standing(tickets, token, clock());
    if (!ours || ahead) {
      if (ours) await session.removeOwnMessages([ours.uid]);
      if (!ahead)
        throw new LeaseError(
          `the ticket this run appended to ${LEASE_MAILBOX} is not there; nothing was changed`,
        );
      throw new AccountBusyError(
        options.account,
        describeHolder(ahead),
        new Date(ahead.expiresAt).toISOString(),
      );
    }
    let released = false;
    return {
      token,
      expiresAt: new Date(expiresAt),
      release: async () => {
        if (released) return;
        released = true;
        LEASES_HELD_HERE.delete(token);
        try {
          await session.openMailbox(LEASE_MAILBOX, false);
          await session.removeOwnMessages([ours.uid, ...dead.map((ticket) => ticket.uid)]);
        } catch {
          // The connection is gone: our ticket is dead now (see isLive), so it blocks no one.
        }
      },
    };
  } catch (error) {
    LEASES_HELD_HERE.delete(token);
    throw namingTheMailbox(error);
  }
}

/** A failure of our own mailbox names it: the user did not ask for it, and has to find it to fix it. */
function namingTheMailbox(error: unknown): unknown {
  if (!(error instanceof ImapActionError)) return error;
  return new LeaseError(
    `the lease mailbox ${JSON.stringify(LEASE_MAILBOX)} could not be used: ${error.message}`,
    {
      cause: error,
    },
  );
}

function ticketFields(token: string, expiresAt: number, rulesets: readonly string[]): Record<string, string> {
  const { host, boot, pid, started, namespace } = thisProcess();
  return {
    token,
    expires: new Date(expiresAt).toISOString(),
    host,
    boot,
    ns: namespace ?? '',
    pid: String(pid),
    started: String(started),
    rulesets: rulesets.join(','),
  };
}

/** Our ticket, the live ticket ahead of it if any (it holds the account), and the dead ones to clean up. */
function standing(tickets: readonly Ticket[], token: string, now: number) {
  const ours = tickets.find((ticket) => ticket.token === token);
  const others = tickets.filter((ticket) => ticket.token !== token);
  return {
    ours,
    ahead: others.find((ticket) => ours && ticket.uid < ours.uid && isLive(ticket, now)),
    dead: others.filter((ticket) => !isLive(ticket, now)),
  };
}

/**
 * Whether a ticket still holds the account. Across machines only its expiry tells, read on our clock: skew between
 * the machines makes a dead ticket live that much longer or shorter.
 */
function isLive(ticket: Ticket, now: number): boolean {
  return holdsAccount(ticket, now, THIS_MACHINE);
}

function ticketMessage(account: string, fields: Record<string, string>, date: Date): string {
  const value = Object.entries(fields)
    .map(([name, text]) => `${name}=${encodeURIComponent(text)}`)
    .join('; ');
  return [
    'From: mailsift <mailsift@localhost>',
    `Subject: mailsift run of ${account.replace(/[^\x20-\x7e]/g, '?')} in progress`,
    `Date: ${date.toUTCString()}`,
    `Message-ID: <${fields.token}@mailsift.lease>`,
    `${TICKET_HEADER}: ${value}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'mailsift keeps this message here while one of its runs works on this account, so that a second run does',
    'not work on the same mail at the same time. The run deletes it when it ends; one that died is ignored',
    'once it expires. Deleting it by hand lets a second run start.',
    '',
  ].join('\r\n');
}

function decodeField(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function parseTickets(messages: readonly { uid: number; headers?: Buffer }[]): Ticket[] {
  const tickets: Ticket[] = [];
  for (const message of messages) {
    const line = (message.headers?.toString('utf8') ?? '')
      .replace(/\r?\n[ \t]+/g, ' ')
      .match(/^x-mailsift-lease:\s*(.*)$/im)?.[1];
    if (!line) continue; // not a ticket of ours: ignored, never deleted
    const field = new Map(
      line.split(';').map((part) => {
        const [name = '', text = ''] = part.trim().split('=');
        return [name, decodeField(text)] as const;
      }),
    );
    const token = field.get('token');
    if (!token) continue;
    tickets.push({
      uid: message.uid,
      token,
      expiresAt: Date.parse(field.get('expires') ?? '') || 0,
      host: field.get('host') ?? '',
      boot: field.get('boot') ?? '',
      pid: Number(field.get('pid')) || 0,
      started: Number(field.get('started')) || 0,
      namespace: field.get('ns') ?? '',
      rulesets: (field.get('rulesets') ?? '').split(',').filter(Boolean),
    });
  }
  return tickets.sort((a, b) => a.uid - b.uid);
}
