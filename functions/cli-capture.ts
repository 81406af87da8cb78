import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type CliIo, EXIT } from './cli-io.ts';
import { UsageError } from './errors.ts';
import { type RedactionKeeps, redactMessage } from './mail/redact.ts';
import type { MatchTree } from './match/tree.ts';
import { findRuleFiles, loadRuleFiles } from './rules/load.ts';
import { fetchLiveMessage } from './testing/live-message.ts';

/** `mailsift capture`: a live message as a test fixture, and a case for it to paste into a test file. */
export async function commandCapture(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      mailbox: { type: 'string', default: 'INBOX' },
      uid: { type: 'string' },
      out: { type: 'string' },
      redact: { type: 'boolean', default: false },
      rules: { type: 'string', default: 'rules' },
      accounts: { type: 'string' },
      parameters: { type: 'string' },
      state: { type: 'string' },
    },
  });
  const [account, ...extra] = positionals;
  const uid = Number(values.uid);
  if (!account || extra.length > 0) throw new UsageError('capture takes one ACCOUNT');
  if (!Number.isInteger(uid) || uid < 1) throw new UsageError('capture takes --uid N, a message UID');
  if (!values.out) throw new UsageError('capture takes --out DIR, where the fixture is written');
  const target = {
    account,
    mailbox: values.mailbox,
    uid,
    ...pick(values, ['accounts', 'parameters', 'state']),
  };
  const message = await fetchLiveMessage(target, { source: true, flags: true, internalDate: true }, io);
  const source = message.source ?? Buffer.alloc(0);
  const content = values.redact ? redactMessage(source, keepsOf(values.rules)) : source;
  const name = `${values.mailbox.replace(/[^\w.-]+/g, '-')}-${uid}.eml`;
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, name), content, { mode: 0o600 });
  io.stderr(
    `mailsift: wrote ${join(values.out, name)} (${content.length} bytes${values.redact ? ', redacted' : ''})\n`,
  );
  // \Recent belongs to the session that saw the message first (RFC 3501 §2.3.2): no client can set it.
  const kept = [...(message.flags ?? [])].filter((flag) => flag.toLowerCase() !== '\\recent');
  const flags = kept.map((flag) => JSON.stringify(flag)).join(', ');
  io.stdout(
    [
      `  - name: ${JSON.stringify(`${values.mailbox} UID ${uid}`)}`,
      `    message: ${name}   # relative to the test file`,
      `    received: ${new Date(message.internalDate ?? 0).toISOString()}`,
      `    flags: [${flags}]`,
      `    mailbox: ${JSON.stringify(values.mailbox)}`,
      '    expect:',
      '      acts: []   # the rules that should act on it',
      '',
    ].join('\n'),
  );
  return EXIT.ok;
}

function pick(values: Record<string, unknown>, keys: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    keys.flatMap((key) => (typeof values[key] === 'string' ? [[key, values[key]]] : [])),
  );
}

/** What redaction keeps for the rules under `paths`: their address and text values, the headers they match on. */
function keepsOf(paths: string): RedactionKeeps {
  if (!existsSync(paths) || findRuleFiles([paths]).length === 0)
    return { addresses: [], words: [], headers: [] };
  const matches = loadRuleFiles([paths]).flatMap((file) => file.rules.map((rule) => rule.match as MatchTree));
  const addresses: string[] = [];
  const words: string[] = [];
  const headers: string[] = [];
  const walk = (match: MatchTree) => {
    for (const key of ['from', 'to', 'cc'] as const) if (match[key]) addresses.push(match[key]);
    for (const key of ['body', 'text', 'subject'] as const) if (match[key]) words.push(match[key]);
    for (const key of ['header', 'headerMatches'] as const) headers.push(...Object.keys(match[key] ?? {}));
    for (const inner of [...(match.any ?? []), ...(match.not ? [match.not] : [])]) walk(inner);
  };
  for (const match of matches) walk(match);
  return { addresses, words, headers };
}
