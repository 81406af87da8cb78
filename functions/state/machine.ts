import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/** Which process holds something: enough to tell, on its own machine, whether that process still runs. */
export interface ProcessIdentity {
  readonly host: string;
  /** The kernel's boot id where there is one: pids are per boot. */
  readonly boot: string;
  readonly pid: number;
  /** The process's start time in clock ticks since boot (/proc/PID/stat), against a reused pid; 0 unknown. */
  readonly started: number;
  /**
   * Its pid namespace (`/proc/self/ns/pid`), empty where unknown: two containers on one host share host name and
   * boot id, but a pid means something else in each.
   */
  readonly namespace?: string;
}

/** Facts about this machine that decide whether a process identity is still alive. */
export interface Machine {
  readonly host: string;
  readonly boot: string;
  readonly namespace: string;
  /** Whether `pid` runs now and, where `started` is known, is the process that started then. */
  isRunning(pid: number, started: number): boolean;
  /** Whether this process holds the lease `token` now (it may have written one it has lost track of). */
  holdsHere(token: string): boolean;
}

/**
 * Tokens of the leases this process holds now: tells our own live leases from those of our runs that ended
 * without releasing theirs.
 */
export const LEASES_HELD_HERE = new Set<string>();

let cached: ProcessIdentity | undefined;

/** This process, as it writes itself into leases. */
export function thisProcess(): ProcessIdentity {
  if (!cached) {
    cached = {
      host: hostname(),
      boot: bootId(),
      pid: process.pid,
      started: startTicks(process.pid),
      namespace: pidNamespace(),
    };
  }
  return cached;
}

/** This machine, as the lease decisions see it. */
export const THIS_MACHINE: Machine = {
  get host() {
    return thisProcess().host;
  },
  get boot() {
    return thisProcess().boot;
  },
  get namespace() {
    return thisProcess().namespace ?? '';
  },
  isRunning(pid: number, started: number): boolean {
    try {
      process.kill(pid, 0);
    } catch (error) {
      // EPERM: the process exists and belongs to someone else.
      if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
    }
    return started === 0 || startTicks(pid) === 0 || startTicks(pid) === started;
  },
  holdsHere: (token) => LEASES_HELD_HERE.has(token),
};

/**
 * Whether the holder of lease `token` may still hold it, as far as `machine` can tell: on another machine (or
 * after a reboot) nothing tells, so it may; on this one its process must run, and be this process only while it
 * holds that very lease.
 */
export function mayStillHold(
  holder: ProcessIdentity & { readonly token: string },
  machine: Machine,
): boolean {
  if (holder.host !== machine.host || holder.boot !== machine.boot) return true;
  if (holder.namespace && machine.namespace && holder.namespace !== machine.namespace) return true;
  if (holder.pid <= 0) return true;
  if (holder.pid === process.pid) return machine.holdsHere(holder.token);
  return machine.isRunning(holder.pid, holder.started);
}

function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return '';
  }
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return ''; // not Linux: the host name alone names the machine
  }
}

/** Field 22 of /proc/PID/stat (after the parenthesised command name, which may hold spaces); 0 where unknown. */
function startTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]) || 0;
  } catch {
    return 0;
  }
}
