/**
 * Lambda bundle size and cold import time, against the floor: a bundle that only imports imapflow (nothing
 * less can speak IMAP), built with the same esbuild settings. Each import is timed in a fresh Node process.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadRuleFiles } from '../functions/rules/load.ts';
import { bundleFleet, bundleImapflowOnly } from '../infra/bundle.ts';

const RUNS = Number(process.env.BENCH_IMPORT_RUNS ?? 15);

// Inside the project, so @aws-sdk/* (left to the Lambda runtime) resolves from node_modules.
mkdirSync('node_modules/.cache', { recursive: true });
const dir = mkdtempSync(resolve('node_modules/.cache/mailsift-bench-'));
const fleet = bundleFleet(loadRuleFiles(['rules']), join(dir, 'fleet'));
const handler = fleet.worker;
const floor = bundleImapflowOnly(join(dir, 'floor'));

/** Median time of `code` in fresh processes; `first` runs before the clock starts. */
function importMs(code: string, first = ''): number {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const script = `${first}; const t = performance.now(); ${code}; process.stdout.write(String(performance.now() - t));`;
    samples.push(
      Number(
        execFileSync('node', ['--no-warnings', '--input-type=module', '-e', script], { encoding: 'utf8' }),
      ),
    );
  }
  return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)] ?? Number.NaN;
}

const floorMs = importMs(`await import(${JSON.stringify(floor.file)})`);
const sdkMs = importMs(`await import(${JSON.stringify(floor.file)}); await import('@aws-sdk/client-ssm')`);
const handlerMs = importMs(`await import(${JSON.stringify(handler.file)})`);
const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;

console.log(
  `\nmailsift Lambda bundle (esbuild, minified ESM, @aws-sdk/* external), median of ${RUNS} fresh processes`,
);
console.log(`floor (imapflow only):        ${kb(floor.bytes)}, import ${floorMs.toFixed(1)} ms`);
console.log(`floor + @aws-sdk/client-ssm:  import ${sdkMs.toFixed(1)} ms`);
const dispatcherMs = importMs(`await import(${JSON.stringify(fleet.dispatcher.file)})`);
console.log(
  `worker: entry + eager chunks ${kb(handler.eagerBytes)} (${(handler.eagerBytes / floor.bytes).toFixed(2)}x floor), ` +
    `all files ${kb(handler.totalBytes)} (${(handler.totalBytes / floor.bytes).toFixed(2)}x), ` +
    `import ${handlerMs.toFixed(1)} ms (${(handlerMs / floorMs).toFixed(2)}x floor, ${(handlerMs / sdkMs).toFixed(2)}x floor + SDK)`,
);

console.log(
  `dispatcher: entry + eager chunks ${kb(fleet.dispatcher.eagerBytes)}, import ${dispatcherMs.toFixed(1)} ms`,
);

// The OAuth2 code (oauth4webapi, jose) is a chunk of its own, imported only for accounts that sign in with it.
const oauthChunk = readdirSync(handler.dir)
  .map((name) => join(handler.dir, name))
  .find((file) => readFileSync(file, 'utf8').includes('urn:ietf:params:oauth:grant-type:jwt-bearer'));
if (oauthChunk) {
  const oauthMs = importMs(
    `await import(${JSON.stringify(oauthChunk)})`,
    `await import(${JSON.stringify(handler.file)})`,
  );
  console.log(
    `OAuth2 chunk (loaded for OAuth2 accounts only): ${kb(statSync(oauthChunk).size)}, ` +
      `import ${oauthMs.toFixed(1)} ms after the worker's`,
  );
}
