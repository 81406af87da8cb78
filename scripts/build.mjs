// Bundles the CLI into one ESM file; dependencies stay in node_modules.
import { build } from 'esbuild';

await build({
  entryPoints: { cli: 'functions/cli-entry.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
