// Bundles the CLI with its dependencies into one minified CommonJS file: one parse instead of hundreds of
// module lookups, and a file bin/mailsift.js can load with a V8 code cache (Node 20 has no compile cache of
// its own). mailparser, imported lazily for webhook text, is only evaluated when a webhook needs it.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints: { cli: 'functions/cli-entry.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minify: true,
  keepNames: true,
  sourcemap: true,
  legalComments: 'none',
  // bin/mailsift.js runs the bundle as a vm Script, which has no loader for import(): the AWS SDK's
  // import('node:http') failed there ("A dynamic import callback was not specified"). As require() it needs none.
  supported: { 'dynamic-import': false },
  mainFields: ['module', 'main'],
  logLevel: 'warning',
});
