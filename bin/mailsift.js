#!/usr/bin/env node
// The CLI is bundled to dist/ by `npm run build` (run by `npm ci` through the prepare script).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('mailsift: dist/cli.js is missing; run `npm run build` first\n');
  process.exit(2);
}
await import(entry.href);
