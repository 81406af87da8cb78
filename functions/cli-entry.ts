import { main } from './cli.ts';

// No top-level await: the CLI is bundled as CommonJS, so that bin/mailsift.js can load it with a code cache.
void main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  // \r and "erase line" redraw one status line in place, cut to the width so it never wraps; only on a terminal.
  status: process.stderr.isTTY
    ? (text) => process.stderr.write(`\r\x1b[K${text.slice(0, (process.stderr.columns || 80) - 1)}`)
    : undefined,
}).then((code) => {
  process.exitCode = code;
});
