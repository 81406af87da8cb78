/** What every CLI command writes to and reads from, and the exit codes they return. */
export const EXIT = { ok: 0, ruleFailed: 1, usage: 2 } as const;

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  /** Replaces the status line (a terminal's last line); absent when stderr is not a terminal. */
  readonly status?: (text: string) => void;
}
