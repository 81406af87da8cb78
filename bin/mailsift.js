#!/usr/bin/env node
// Runs the CLI bundle (dist/cli.cjs, built by `npm run build`, which `npm ci` runs through the prepare script)
// with a V8 code cache beside it: compiling the 2 MB bundle is most of the CLI's start-up, and Node 20 has no
// compile cache of its own. V8 checks the cache against the source, its version and flags, and ignores one that
// does not fit (or was torn by two runs writing at once); the run then compiles as usual and writes a new one.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const bundle = fileURLToPath(new URL('../dist/cli.cjs', import.meta.url));
const cacheFile = `${bundle}.v8cache`;
if (!existsSync(bundle)) {
  process.stderr.write('mailsift: dist/cli.cjs is missing; run `npm run build` first\n');
  process.exit(2);
}
let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {}
const script = new Script(Module.wrap(readFileSync(bundle, 'utf8')), { filename: bundle, cachedData });
if (!cachedData || script.cachedDataRejected) {
  // At exit the cache also holds the functions this run compiled lazily.
  process.once('exit', () => {
    try {
      const temporary = `${cacheFile}.${process.pid}`;
      writeFileSync(temporary, script.createCachedData());
      renameSync(temporary, cacheFile);
    } catch {
      // A read-only install runs without a cache.
    }
  });
}
const module = { exports: {} };
script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, dirname(bundle));
