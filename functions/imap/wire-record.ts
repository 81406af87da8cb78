/** What imapflow's logger tells us about the wire: the commands sent and the last failure it swallowed. */
export interface WireRecord {
  /** Every command sent, by name (`UID SEARCH`, `UID MOVE`, …), in order: the summaries count them. */
  readonly commands: string[];
  /** imapflow reports some failures only to its logger, returning false from the command itself. */
  lastWarning: unknown;
  /** Why we closed the connection ourselves: what the server did that no honest server does. */
  violation?: string;
}

export function newWireRecord(): WireRecord {
  return { commands: [], lastWarning: undefined };
}

/** Notes a command line imapflow logged as written ("<tag> <COMMAND> …", credentials masked). */
export function recordCommandLine(wire: WireRecord, line: string): void {
  if (line.startsWith('(*')) return; // imapflow's own continuation notes
  wire.commands.push(commandName(line));
}

function commandName(logged: string): string {
  const words = logged.split(' ');
  const first = (words[1] ?? '').toUpperCase();
  return first === 'UID' ? `UID ${(words[2] ?? '').toUpperCase()}` : first;
}
