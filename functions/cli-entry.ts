import { main } from './cli.ts';

process.exitCode = await main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  // \r and "erase line" redraw one status line in place, cut to the width so it never wraps; only on a terminal.
  status: process.stderr.isTTY
    ? (text) => process.stderr.write(`\r\x1b[K${text.slice(0, (process.stderr.columns || 80) - 1)}`)
    : undefined,
});
