import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { hasFailed, type RulesetSummary, runRuleset } from '../engine/run.ts';
import { MailsiftError } from '../errors.ts';
import type { Ruleset } from '../rules/schema.ts';
import type { ConfiguredAccount } from '../secrets/local.ts';
import { type ParameterStoreSecrets, parameterStoreSecrets } from '../secrets/ssm.ts';
import { DynamoDbStateStore } from '../state/dynamodb-store.ts';
import type { StateStore } from '../state/store.ts';

/** Rulesets validated at build time and inlined by the bundler (see infra/bundle.ts); none when run from source. */
declare const __MAILSIFT_RULESETS__: Record<string, Ruleset> | undefined;

/** Time kept back from the Lambda timeout to finish the current rule, log out and report. */
export const TIME_MARGIN_MS = 15_000;

export interface ScheduledEvent {
  readonly ruleset?: string;
}

/** The invocation failed: a rule or the connection did; the summary was logged. Makes Lambda retry / DLQ. */
export class RulesetRunError extends MailsiftError {}

export interface HandlerDependencies {
  readonly rulesets: Record<string, Ruleset>;
  /** The IMAP account this function serves (one function per account); its rulesets only. */
  readonly account?: string;
  readonly secrets: ParameterStoreSecrets;
  /**
   * Where runs remember leases, copies, deliveries and expunges: the stack's DynamoDB table. Made on the first
   * invocation (and kept for the warm ones), so that a missing setting fails that invocation, not the import.
   */
  readonly state: () => StateStore;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** Builds the handler; `handler` below is it with the bundled rulesets and Parameter Store. */
export function createHandler(deps: HandlerDependencies) {
  let store: StateStore | undefined;
  return async (
    event: ScheduledEvent,
    context: Pick<Context, 'getRemainingTimeInMillis'>,
  ): Promise<RulesetSummary> => {
    const found = event?.ruleset ? deps.rulesets[event.ruleset] : undefined;
    const ruleset =
      found && (deps.account === undefined || found.account === deps.account) ? found : undefined;
    if (!ruleset) {
      const known = Object.values(deps.rulesets)
        .filter((candidate) => deps.account === undefined || candidate.account === deps.account)
        .map((candidate) => candidate.name);
      throw new RulesetRunError(
        `unknown ruleset ${JSON.stringify(event?.ruleset)}; this function runs: ${known.join(', ')}`,
      );
    }
    const configured = await deps.secrets.loadAccount(ruleset.account);
    store ??= deps.state();
    const state = store;
    const account = await signingIn(configured, state, deps.secrets);
    const summary = await runRuleset(ruleset, account, {
      dryRun: false,
      state,
      secrets: deps.secrets.resolver,
      shouldStop: () => context.getRemainingTimeInMillis() < TIME_MARGIN_MS,
      // The lease ends when Lambda would end the run anyway: a run it kills blocks the next one no longer.
      leaseMs: context.getRemainingTimeInMillis(),
    });
    recordMetrics(deps.metrics, summary);
    const failed = hasFailed(summary);
    deps.logger[failed ? 'error' : 'info']('ruleset run', { summary });
    if (failed)
      throw new RulesetRunError(
        `ruleset ${ruleset.name} failed: ${summary.error ?? 'see the rules in the summary'}`,
      );
    return summary;
  };
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

/** The state table the stack created and named in the function's environment. */
function stateTable(env: NodeJS.ProcessEnv): string {
  const table = env.MAILSIFT_STATE_TABLE;
  if (!table)
    throw new MailsiftError(
      'MAILSIFT_STATE_TABLE is not set: deploy with the mailsift stack, which creates the state table',
    );
  return table;
}

export const handler = createHandler({
  rulesets: typeof __MAILSIFT_RULESETS__ === 'undefined' ? {} : __MAILSIFT_RULESETS__,
  account: process.env.MAILSIFT_ACCOUNT,
  secrets: parameterStoreSecrets({ prefix: process.env.MAILSIFT_PARAMETER_PREFIX ?? '/mailsift' }),
  state: () => new DynamoDbStateStore(new DynamoDBClient({}), stateTable(process.env)),
  logger: new Logger({ serviceName: 'mailsift' }),
  metrics: new Metrics({ namespace: 'mailsift', serviceName: 'mailsift' }),
});
