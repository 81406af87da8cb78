import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { fleetManifest } from '../functions/fleet/manifest.ts';
import type { RuleFile } from '../functions/rules/schema.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The two Lambda entry points, relative to the project root; handlers `worker.handler`, `dispatcher.handler`. */
export const ENTRIES = {
  worker: 'functions/lambda/worker.ts',
  dispatcher: 'functions/lambda/dispatcher.ts',
} as const;

/**
 * esbuild settings for everything we ship to Lambda: one minified ESM file with a source map, the AWS SDK
 * left to the nodejs22.x runtime, and a `require` for the CommonJS dependencies that ask for Node built-ins.
 */
export const LAMBDA_BUILD_OPTIONS = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  minify: true,
  // Error class names are what users see as errorType; minified they would read "ei".
  keepNames: true,
  sourcemap: true,
  legalComments: 'none',
  mainFields: ['module', 'main'],
  external: ['@aws-sdk/*'],
  banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  logLevel: 'error',
} as const;

export interface Bundle {
  readonly dir: string;
  /** The entry file Lambda loads (`index.mjs`). */
  readonly file: string;
  /** Size of the entry file. */
  readonly bytes: number;
  /** Size of the entry and the chunks it imports statically: what a cold start loads. */
  readonly eagerBytes: number;
  /** Size of every .mjs file, lazily loaded chunks included (what is uploaded, less source maps). */
  readonly totalBytes: number;
}

function sizes(dir: string, file: string): Bundle {
  const size = (name: string) => statSync(join(dir, name)).size;
  const total = readdirSync(dir)
    .filter((name) => name.endsWith('.mjs'))
    .reduce((sum, name) => sum + size(name), 0);
  // Minified ESM keeps static chunk imports as `from"./chunk-X.mjs"`; dynamic ones as `import("./chunk-Y.mjs")`.
  const text = readFileSync(file, 'utf8');
  const eager = [...text.matchAll(/from\s*"\.\/(chunk-[\w-]+\.mjs)"/g)].map((match) => match[1] as string);
  const eagerBytes = statSync(file).size + [...new Set(eager)].reduce((sum, name) => sum + size(name), 0);
  return { dir, file, bytes: statSync(file).size, eagerBytes, totalBytes: total };
}

/** The worker and dispatcher, built together into one directory (they share chunks, such as the manifest). */
export interface FleetBundle {
  readonly dir: string;
  readonly worker: Bundle;
  readonly dispatcher: Bundle;
}

/**
 * Bundles the worker and the dispatcher with the fleet manifest of `ruleFiles` inlined (validated at build time:
 * the cold path parses no YAML and builds no schema) into `outDir/worker.mjs` and `outDir/dispatcher.mjs`. Code
 * splitting puts what is imported lazily (mailparser for webhook text, the OAuth2 code) in chunks of their own,
 * which a cold start does not load, and what both import (the manifest) in one both load.
 */
export function bundleFleet(ruleFiles: readonly RuleFile[], outDir: string): FleetBundle {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  buildSync({
    ...LAMBDA_BUILD_OPTIONS,
    mainFields: [...LAMBDA_BUILD_OPTIONS.mainFields],
    external: [...LAMBDA_BUILD_OPTIONS.external],
    absWorkingDir: ROOT,
    entryPoints: ENTRIES,
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    splitting: true,
    chunkNames: 'chunk-[hash]',
    define: { __MAILSIFT_FLEET__: JSON.stringify(fleetManifest(ruleFiles)) },
  });
  return {
    dir: outDir,
    worker: sizes(outDir, join(outDir, 'worker.mjs')),
    dispatcher: sizes(outDir, join(outDir, 'dispatcher.mjs')),
  };
}

/** The floor for size and import time: a bundle that only imports imapflow, built the same way. */
export function bundleImapflowOnly(outDir: string): Bundle {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, 'index.mjs');
  buildSync({
    ...LAMBDA_BUILD_OPTIONS,
    mainFields: [...LAMBDA_BUILD_OPTIONS.mainFields],
    external: [...LAMBDA_BUILD_OPTIONS.external],
    absWorkingDir: ROOT,
    stdin: { contents: "export { ImapFlow } from 'imapflow';", resolveDir: ROOT, loader: 'js' },
    outfile: file,
  });
  return sizes(outDir, file);
}
