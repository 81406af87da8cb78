/**
 * The AWS fleet shape at size, and what one run costs there:
 * 1. `npm run synth` (the real cdk CLI) for the shipped rules plus two rule files of 40, 500 and 5,000 accounts
 *    each: wall time, resources, template size;
 * 2. cold import of the worker and dispatcher bundles with the shipped rules, and with 10,000 (ruleset, account)
 *    pairs inlined (5,000 accounts × 2 files): median of BENCH_IMPORT_RUNS fresh processes;
 * 3. one account's scheduled runs through the worker (createWorker from source, its real DynamoDB store against
 *    dynalite, Parameter Store on a loopback stand-in) on a 1,000-message Dovecot mailbox with the shipped
 *    invoice rules: the first run, a run after 10 new messages, a run with nothing new; duration, IMAP commands,
 *    state-table reads and writes. Directly on loopback, and through a proxy adding 50 ms of round trip (25 ms
 *    each way), as between a Lambda and a mail provider elsewhere. Median of BENCH_REPETITIONS accounts.
 *
 *   node --import tsx bench/fleet.ts
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { RulesetSummary } from '../functions/engine/run.ts';
import { fleetManifest } from '../functions/fleet/manifest.ts';
import { encodeRunMessage } from '../functions/fleet/run-message.ts';
import { createWorker } from '../functions/lambda/worker.ts';
import { loadRuleFiles, parseRuleFile } from '../functions/rules/load.ts';
import type { RuleFile } from '../functions/rules/schema.ts';
import { parameterStoreSecrets } from '../functions/secrets/ssm.ts';
import { DynamoDbStateStore } from '../functions/state/dynamodb-store.ts';
import type { StateStore } from '../functions/state/store.ts';
import { bundleFleet } from '../infra/bundle.ts';
import { startDovecot } from '../test/helpers/dovecot.ts';
import { startDynalite } from '../test/helpers/dynalite.ts';
import { startFakeSsm } from '../test/helpers/fake-ssm.ts';
import { fleetRuleFiles } from '../test/helpers/fleet.ts';
import { realisticMailbox } from '../test/helpers/realistic-mailbox.ts';
import { median } from './compare.ts';

const IMPORT_RUNS = Number(process.env.BENCH_IMPORT_RUNS ?? 9);
const REPETITIONS = Number(process.env.BENCH_REPETITIONS ?? 5);
const PARTS = process.env.BENCH_FLEET_PARTS?.split(',') ?? ['synth', 'import', 'runs'];
const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;

/** The shipped rule files plus two of `accounts` accounts each, as YAML in a directory of their own. */
function fleetRulesDir(accounts: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailsift-fleet-rules-'));
  for (const name of readdirSync('rules')) writeFileSync(join(dir, name), readFileSync(join('rules', name)));
  const names = Array.from({ length: accounts }, (_, i) => `customer-${String(i + 1).padStart(5, '0')}`);
  ['rate(15 minutes)', 'rate(5 minutes)'].forEach((schedule, index) => {
    writeFileSync(
      join(dir, `fleet-${index}.yaml`),
      `accounts:\n${names.map((name) => `  - ${name}\n`).join('')}schedule: ${schedule}\nrules:\n` +
        `  - { name: file-${index}, match: { from: billing@, subject: invoice }, actions: [{ addFlags: [$Invoice] }, { moveTo: Finance/Invoices }] }\n`,
    );
  });
  return dir;
}

function synthAt(accounts: number) {
  const output = mkdtempSync(join(tmpdir(), 'mailsift-fleet-synth-'));
  const started = performance.now();
  execFileSync('npx', ['cdk', 'synth', '--no-notices', '-q', '--output', output], {
    env: { ...process.env, MAILSIFT_RULES_DIR: fleetRulesDir(accounts), AWS_EC2_METADATA_DISABLED: 'true' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const ms = performance.now() - started;
  const file = join(output, 'Mailsift.template.json');
  const resources = Object.keys(JSON.parse(readFileSync(file, 'utf8')).Resources).length;
  return { ms, resources, templateBytes: statSync(file).size };
}

function importMs(file: string): number {
  const samples = Array.from({ length: IMPORT_RUNS }, () => {
    const script = `const t = performance.now(); await import(${JSON.stringify(file)}); process.stdout.write(String(performance.now() - t));`;
    return Number(
      execFileSync('node', ['--no-warnings', '--input-type=module', '-e', script], { encoding: 'utf8' }),
    );
  });
  return median(samples);
}

/** A TCP proxy to `port` that holds every chunk `oneWayMs` in each direction (order kept). */
async function latencyProxy(port: number, oneWayMs: number) {
  const delayed = (from: Socket, to: Socket) => {
    let last = 0;
    from.on('data', (chunk) => {
      last = Math.max(Date.now() + oneWayMs, last);
      setTimeout(() => to.write(chunk), last - Date.now());
    });
    from.on('close', () => setTimeout(() => to.destroy(), oneWayMs));
    from.on('error', () => to.destroy());
  };
  const server = createServer((client) => {
    const upstream = netConnect(port, '127.0.0.1');
    delayed(client, upstream);
    delayed(upstream, client);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { port: (server.address() as { port: number }).port, close: () => server.close() };
}

/** A state store that counts reads and writes, as DynamoDB bills them. */
function counting(store: StateStore) {
  const counts = { reads: 0, writes: 0 };
  const wrapped: StateStore = {
    description: store.description,
    get(key) {
      counts.reads++;
      return store.get(key);
    },
    put(key, value, options) {
      counts.writes++;
      return store.put(key, value, options);
    },
    delete(key, options) {
      counts.writes++;
      return store.delete(key, options);
    },
    list(prefix) {
      counts.reads++;
      return store.list(prefix);
    },
  };
  return { wrapped, counts };
}

async function workerRuns() {
  // The real SDK clients, pointed at loopback stand-ins.
  Object.assign(process.env, {
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
  });
  const dovecot = await startDovecot();
  const dynamo = await startDynalite();
  const rules = readFileSync('rules/file-invoices.yaml', 'utf8').replace(
    'account: billing',
    'account: bench',
  );
  const manifest = fleetManifest([parseRuleFile('rules/file-invoices.yaml', rules)]);
  const results: Record<string, { ms: number; commands: number; reads: number; writes: number }[]> = {};
  try {
    dovecot.addUser(); // the first logins on a fresh Dovecot are slower
    for (const oneWayMs of [0, 25]) {
      const proxy = oneWayMs > 0 ? await latencyProxy(dovecot.imapsPort, oneWayMs) : undefined;
      for (let repetition = 0; repetition < REPETITIONS; repetition++) {
        const user = dovecot.addUser();
        dovecot.seed(user, 'INBOX', realisticMailbox(1000, new Date(), 42 + repetition));
        const { password, ...imap } = dovecot.account(user);
        const ssm = await startFakeSsm({
          '/mailsift/accounts/bench': JSON.stringify({ ...imap, password, port: proxy?.port ?? imap.port }),
        });
        process.env.AWS_ENDPOINT_URL_SSM = ssm.url;
        const table = counting(new DynamoDbStateStore(dynamo.client, await dynamo.createStateTable()));
        const summaries: RulesetSummary[] = [];
        const logger = new Logger({ logLevel: 'ERROR' });
        const worker = createWorker({
          manifest,
          secrets: parameterStoreSecrets({ prefix: '/mailsift' }),
          state: () => table.wrapped,
          retryLater: async () => {},
          logger: Object.assign(logger, {
            info: (_message: string, extra?: { summary?: RulesetSummary }) => {
              if (extra?.summary) summaries.push(extra.summary);
            },
          }),
          metrics: new Metrics({ namespace: 'bench', serviceName: 'bench' }),
        });
        for (const phase of ['first run', '10 new', 'nothing new']) {
          if (phase === '10 new')
            dovecot.seed(user, 'INBOX', realisticMailbox(10, new Date(), 7 + repetition));
          const before = { ...table.counts };
          const body = encodeRunMessage({
            ruleset: 'file-invoices',
            account: 'bench',
            scheduledTime: new Date().toISOString(),
          });
          const record = {
            messageId: phase,
            receiptHandle: '',
            body,
            attributes: { MessageGroupId: 'bench' },
          };
          const started = performance.now();
          await worker({ Records: [record] } as never, { getRemainingTimeInMillis: () => 300_000 });
          const ms = performance.now() - started;
          const summary = summaries.at(-1);
          if (summaries.length === 0) throw new Error(`the ${phase} run did not run: see the log above`);
          const key = `${oneWayMs * 2} ms RTT, ${phase}`;
          results[key] ??= [];
          results[key].push({
            ms,
            commands: summary?.imapCommands ?? Number.NaN,
            reads: table.counts.reads - before.reads,
            writes: table.counts.writes - before.writes,
          });
        }
        await ssm.close();
      }
      proxy?.close();
    }
  } finally {
    await dynamo.stop();
    await dovecot.stop();
  }
  return results;
}

console.log('\nmailsift on AWS: the fleet shape');
console.log('\nnpm run synth (cdk synth, offline): shipped rules + 2 rule files of N accounts');
for (const accounts of PARTS.includes('synth') ? [40, 500, 5_000] : []) {
  const result = synthAt(accounts);
  console.log(
    `  ${String(accounts).padStart(5)} accounts (${2 * accounts + 4} pairs): ${(result.ms / 1000).toFixed(1)} s, ` +
      `${result.resources} resources, template ${kb(result.templateBytes)}`,
  );
}

mkdirSync('node_modules/.cache', { recursive: true });
const work = mkdtempSync(resolve('node_modules/.cache/mailsift-fleet-bench-'));
console.log(`\ncold import, median of ${IMPORT_RUNS} fresh processes`);
const bundles: [string, () => RuleFile[]][] = [
  ['shipped rules', () => loadRuleFiles(['rules'])],
  ['10,000 pairs', () => [...loadRuleFiles(['rules']), ...fleetRuleFiles(5_000, 2)]],
];
for (const [label, files] of PARTS.includes('import') ? bundles : []) {
  const bundle = bundleFleet(files(), join(work, label.replace(/\W+/g, '-')));
  console.log(
    `  ${label.padEnd(13)} worker ${kb(bundle.worker.eagerBytes)} ${importMs(bundle.worker.file).toFixed(1)} ms, ` +
      `dispatcher ${kb(bundle.dispatcher.eagerBytes)} ${importMs(bundle.dispatcher.file).toFixed(1)} ms`,
  );
}

console.log(
  `\none account's runs through the worker (1,000 messages, shipped invoice rules), median of ${REPETITIONS}`,
);
for (const [key, samples] of Object.entries(PARTS.includes('runs') ? await workerRuns() : {})) {
  const pick = (field: keyof (typeof samples)[number]) => median(samples.map((sample) => sample[field]));
  console.log(
    `  ${key.padEnd(28)} ${pick('ms').toFixed(0).padStart(5)} ms, ${pick('commands')} IMAP commands, ` +
      `${pick('reads')} state reads, ${pick('writes')} writes`,
  );
}
