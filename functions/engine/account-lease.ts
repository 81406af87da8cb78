import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { MailsiftError } from '../errors.ts';
import type { ImapSession } from '../imap/session.ts';
import { CopyJournal, parseJournalEntries } from './copy-journal.ts';

/**
 * The mailbox that holds the tickets of running runs, one small message each. Created on the first run and
 * never subscribed, so that mail clients showing subscribed folders do not show it.
 */
export const LEASE_MAILBOX = 'mailsift-lease';

/** How long a run may hold its account when the caller gives no deadline (the CLI). */
export const DEFAULT_LEASE_MS = 15 * 60_000;

const TICKET_HEADER = 'X-Mailsift-Lease';

/** Another run holds the account: this run must not touch its mail. */
export class AccountBusyError extends MailsiftError {
  readonly holder: string;
  readonly until: string;
  constructor(account: string, holder: string, until: string) {
    super(`another run of account ${JSON.stringify(account)} is going on (${holder}); it ends by ${until}`);
    this.holder = holder;
    this.until = until;
  }
}

/** The lease could not be taken for a reason other than another run: the run does not go on without it. */
export class LeaseError extends MailsiftError {}

/** The account, held by this run until `release`. */
export interface AccountLease {
  readonly expiresAt: Date;
  /** Where this run writes down its COPYs, and finds those of earlier runs that were cut short. */
  readonly copyJournal: CopyJournal;
  /**
   * Deletes our ticket, tickets of runs that died and used-up journal entries. Never throws: the ticket then
   * dies with us.
   */
  release(): Promise<void>;
}

interface Ticket {
  readonly uid: number;
  readonly token: string;
  readonly expiresAt: number;
  readonly host: string;
  readonly boot: string;
  readonly pid: number;
  readonly rulesets: string;
}

/** Tokens of the leases this process holds now: tells our own live tickets from those of our runs that died. */
const heldHere = new Set<string>();

let machine: { host: string; boot: string } | undefined;
/** This machine: its host name, and the kernel's boot id where there is one (pids are per boot). */
function thisMachine(): { host: string; boot: string } {
  if (!machine) {
    let boot = '';
    try {
      boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      // not Linux: the host name alone names the machine
    }
    machine = { host: hostname(), boot };
  }
  return machine;
}

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
export async function acquireAccountLease(
  session: ImapSession,
  options: { account: string; rulesets: readonly string[]; durationMs: number; now?: () => number },
): Promise<AccountLease> {
  const clock = options.now ?? Date.now;
  const token = randomUUID();
  const expiresAt = clock() + options.durationMs;
  const { host, boot } = thisMachine();
  const fields = {
    token,
    expires: new Date(expiresAt).toISOString(),
    host,
    boot,
    pid: String(process.pid),
    rulesets: options.rulesets.join(','),
  };
  // Known here before the server shows the ticket: another run of this process that reads it meanwhile must
  // see it live, or it would take it for a dead one (and go ahead of it, or delete it).
  heldHere.add(token);
  try {
    await session.appendMessage(LEASE_MAILBOX, ticketMessage(options.account, fields, new Date(clock())), [
      '\\Seen',
    ]);
    await session.openMailbox(LEASE_MAILBOX, false);
    // Whole messages: tickets are a header, journal entries a small body.
    const stored = await session.fetchEvery({ source: true });
    const tickets = parseTickets(stored);
    const ours = tickets.find((ticket) => ticket.token === token);
    const now = clock();
    const dead = tickets.filter((ticket) => ticket.token !== token && !isLive(ticket, now));
    const ahead = tickets.find(
      (ticket) => ticket.token !== token && ours && ticket.uid < ours.uid && isLive(ticket, now),
    );
    if (!ours || ahead) {
      if (ours) await session.removeOwnMessages([ours.uid]);
      heldHere.delete(token);
      if (!ahead) {
        throw new LeaseError(
          `the ticket this run appended to ${LEASE_MAILBOX} is not there; nothing was changed`,
        );
      }
      throw new AccountBusyError(
        options.account,
        describeHolder(ahead),
        new Date(ahead.expiresAt).toISOString(),
      );
    }
    const copyJournal = new CopyJournal(session, {
      mailbox: LEASE_MAILBOX,
      token,
      earlier: parseJournalEntries(stored),
      now: clock,
    });
    return {
      expiresAt: new Date(expiresAt),
      copyJournal,
      release: async () => {
        heldHere.delete(token);
        try {
          await session.openMailbox(LEASE_MAILBOX, false);
          const entries = await copyJournal.finishedUids();
          await session.removeOwnMessages([ours.uid, ...dead.map((ticket) => ticket.uid), ...entries]);
        } catch {
          // The connection is gone: our ticket is dead now (see isLive), so it blocks no one.
        }
      },
    };
  } catch (error) {
    heldHere.delete(token);
    throw error;
  }
}

/**
 * Whether a ticket still holds the account. Across machines only its expiry tells, read on our clock: skew between
 * the machines makes a dead ticket live that much longer or shorter.
 */
function isLive(ticket: Ticket, now: number): boolean {
  if (!(ticket.expiresAt > now)) return false;
  const here = thisMachine();
  if (ticket.host !== here.host || ticket.boot !== here.boot) return true; // cannot tell: trust the expiry
  if (ticket.pid <= 0) return true;
  if (ticket.pid === process.pid) return heldHere.has(ticket.token);
  try {
    process.kill(ticket.pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists and belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function describeHolder(ticket: Ticket): string {
  const what = ticket.rulesets ? `ruleset ${ticket.rulesets}` : 'a run';
  return `${what} on ${ticket.host}, pid ${ticket.pid}`;
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

function parseTickets(messages: readonly { uid: number; source?: Buffer }[]): Ticket[] {
  const tickets: Ticket[] = [];
  for (const message of messages) {
    const text = message.source?.toString('utf8') ?? '';
    const end = text.search(/\r?\n\r?\n/);
    const line = (end < 0 ? text : text.slice(0, end))
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
      rulesets: field.get('rulesets') ?? '',
    });
  }
  return tickets.sort((a, b) => a.uid - b.uid);
}
