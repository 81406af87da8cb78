import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { hasFailed, type RulesetSummary, runRuleset } from '../engine/run.ts';
import type { Ruleset } from '../rules/schema.ts';
import type { ConfiguredAccount } from '../secrets/local.ts';
import type { ParameterStoreSecrets } from '../secrets/ssm.ts';
import type { StateStore } from '../state/store.ts';

/** Time kept back from the Lambda timeout to finish the current rule, log out and report. */
export const TIME_MARGIN_MS = 15_000;

/** What a scheduled run needs on AWS. */
export interface RunDependencies {
  readonly secrets: ParameterStoreSecrets;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * One scheduled run of a ruleset on its account, as the CLI's `run` does it: the account from Parameter Store,
 * OAuth2 tokens where it signs in so, the engine, then the summary in the logs and its figures as EMF metrics.
 * @throws AccountError and the like when the run could not start (nothing was acted on); logged by the caller.
 */
export async function runScheduled(
  deps: RunDependencies,
  ruleset: Ruleset,
  state: StateStore,
  remainingMs: () => number,
): Promise<RulesetSummary> {
  const configured = await deps.secrets.loadAccount(ruleset.account);
  const account = await signingIn(configured, state, deps.secrets);
  const summary = await runRuleset(ruleset, account, {
    dryRun: false,
    state,
    secrets: deps.secrets.resolver,
    shouldStop: () => remainingMs() < TIME_MARGIN_MS,
    // The lease ends when Lambda would end the run anyway: a run it kills blocks the next one no longer.
    leaseMs: remainingMs(),
  });
  recordMetrics(deps.metrics, summary);
  deps.logger[hasFailed(summary) ? 'error' : 'info']('ruleset run', { summary });
  return summary;
}

/**
 * The account with its token source where it signs in with OAuth2. The OAuth2 code (oauth4webapi, jose) is
 * imported only then: password accounts do not pay for it at a cold start. A rotated refresh token goes to the
 * state table first, then back to its parameter.
 */
async function signingIn(account: ConfiguredAccount, state: StateStore, secrets: ParameterStoreSecrets) {
  if (!account.oauth2) return account;
  const { withTokens } = await import('../oauth/tokens.ts');
  return withTokens(account, state, (settings, token) => secrets.persistRefreshToken(settings, token));
}

/** Per ruleset (dimension `ruleset`): matched, acted, failed rules, duration. The dashboard reads them. */
function recordMetrics(metrics: Metrics, summary: RulesetSummary): void {
  metrics.addDimension('ruleset', summary.ruleset);
  const sum = (pick: (rule: RulesetSummary['rules'][number]) => number) =>
    summary.rules.reduce((total, rule) => total + pick(rule), 0);
  metrics.addMetric(
    'matched',
    MetricUnit.Count,
    sum((rule) => rule.matched),
  );
  metrics.addMetric(
    'acted',
    MetricUnit.Count,
    sum((rule) => rule.acted),
  );
  metrics.addMetric('failed', MetricUnit.Count, summary.error ? 1 : sum((rule) => (rule.error ? 1 : 0)));
  metrics.addMetric('duration', MetricUnit.Milliseconds, summary.durationMs);
  metrics.publishStoredMetrics();
}
