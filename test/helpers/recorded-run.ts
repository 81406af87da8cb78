import type { RunOptions } from '../../functions/engine/run.ts';
import { runRuleset } from '../../functions/engine/run.ts';
import type { Ruleset } from '../../functions/rules/schema.ts';
import type { TestDovecot } from './dovecot.ts';
import { startFaultProxyFor } from './fault-proxy.ts';

/**
 * Runs `ruleset` for `user` through a loopback proxy that records every command line the run sent (tags
 * dropped: "UID MOVE $ Bulk"), so that a test can read the wire without any test-only API in the session.
 */
export async function runRecorded(dovecot: TestDovecot, user: string, ruleset: Ruleset, options: RunOptions) {
  const proxy = await startFaultProxyFor(dovecot);
  try {
    const summary = await runRuleset(ruleset, { ...dovecot.account(user), port: proxy.port }, options);
    return { summary, lines: proxy.commands().map((line) => line.replace(/^\S+ /, '')) };
  } finally {
    await proxy.close();
  }
}
