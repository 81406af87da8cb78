/** The bundled CLI (bin/mailsift.js), run as a user runs it, without blocking this process's servers. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `mailsift ARGS` in a child process, with no accounts file from the environment unless `env` names one;
 * `onLine` sees stdout line by line while it runs (to answer a prompt, say).
 */
export async function runCli(
  args: readonly string[],
  options: { env?: Record<string, string>; onLine?: (line: string) => void } = {},
): Promise<CliRun> {
  const child = spawn('node', ['bin/mailsift.js', ...args], {
    env: { ...process.env, MAILSIFT_ACCOUNTS: '', ...options.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
    for (const line of String(chunk).split('\n')) if (line) options.onLine?.(line);
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}
