/**
 * What signing in with OAuth2 costs against a password: one ruleset run on the same Dovecot (1,000 messages),
 * logged in with LOGIN, with a cached access token, and with a token request every run (a token that lives less
 * than the 5-minute margin). Token requests go to the tests' loopback token server, which Dovecot also asks
 * (introspection) at each login. Median wall time of BENCH_REPETITIONS runs, IMAP commands, token requests.
 *
 *   node --import tsx bench/oauth.ts
 */
import { runRuleset } from '../functions/engine/run.ts';
import { oauth2Settings } from '../functions/oauth/settings.ts';
import { forgetAccessTokens, withTokens } from '../functions/oauth/tokens.ts';
import type { StateStore } from '../functions/state/store.ts';
import { startDovecot } from '../test/helpers/dovecot.ts';
import { realisticMailbox } from '../test/helpers/realistic-mailbox.ts';
import { rulesetOf } from '../test/helpers/rulesets.ts';
import { testState } from '../test/helpers/state.ts';
import { startTokenServer } from '../test/helpers/token-server.ts';
import { median } from './compare.ts';

const REPETITIONS = Number(process.env.BENCH_REPETITIONS ?? 9);
const RULESET = rulesetOf(
  'rules:\n  - { name: tag, match: { from: billing@, subject: invoice }, actions: [{ addFlags: [$Invoice] }] }\n',
);

const tokens = await startTokenServer();
const dovecot = await startDovecot({ oauth2: { introspectionUrl: tokens.introspectUrl } });
try {
  // A throwaway first user: the first logins on a fresh Dovecot are slower.
  dovecot.addUser();
  const user = dovecot.addUser();
  dovecot.seed(user, 'INBOX', realisticMailbox(1000));
  tokens.registerClient('bench', {});
  const { password, ...imap } = dovecot.account(user);
  const oauthAccount = (state: StateStore) =>
    withTokens(
      {
        ...imap,
        oauth2: oauth2Settings('bench', {
          clientId: 'bench',
          tokenUrl: tokens.tokenUrl,
          scope: 'imap',
          refreshToken: tokens.issueRefreshToken('bench', user),
        }),
      },
      state,
    );
  const ways = [
    { name: 'password (LOGIN)', account: (_state: StateStore) => ({ ...imap, password }), lifetime: 3600 },
    { name: 'OAuth2, access token cached', account: oauthAccount, lifetime: 3600 },
    { name: 'OAuth2, a token request every run', account: oauthAccount, lifetime: 60 },
  ];
  console.log(`\nOAuth2 against a password: one ruleset, 1,000 messages, median of ${REPETITIONS} runs`);
  for (const way of ways) {
    tokens.setLifetime(way.lifetime);
    const state = testState();
    await runRuleset(RULESET, way.account(state), { state, dryRun: false }); // warms the cache, where there is one
    const before = tokens.requests.get('refresh_token') ?? 0;
    const times: number[] = [];
    let commands = 0;
    for (let i = 0; i < REPETITIONS; i++) {
      forgetAccessTokens(); // each run as a new CLI process: only the state store remembers
      const started = performance.now();
      const summary = await runRuleset(RULESET, way.account(state), { state, dryRun: false });
      times.push(performance.now() - started);
      if (summary.error) throw new Error(summary.error);
      commands = summary.imapCommands;
    }
    const requests = ((tokens.requests.get('refresh_token') ?? 0) - before) / REPETITIONS;
    console.log(
      `${way.name.padEnd(36)} ${median(times).toFixed(1).padStart(6)} ms, ${commands} IMAP commands, ` +
        `${requests.toFixed(1)} token requests per run`,
    );
  }
} finally {
  await dovecot.stop();
  await tokens.close();
}
