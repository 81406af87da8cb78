import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RuleFileError } from '../functions/errors.ts';
import { loadRulesets } from '../functions/rules/load.ts';
import type { Ruleset } from '../functions/rules/schema.ts';
import { MailsiftStack } from './mailsift-stack.ts';

// Rule files are validated with the same loader as `mailsift validate`; an invalid file stops the synth
// with the same messages.
const rulesDir = process.env.MAILSIFT_RULES_DIR ?? 'rules';
let rulesets: Ruleset[];
try {
  rulesets = loadRulesets([rulesDir]);
} catch (error) {
  if (!(error instanceof RuleFileError)) throw error;
  process.stderr.write(`${error.message}\n${error.problems.length} problem(s); cdk synth stopped.\n`);
  process.exit(1);
}

const app = new App();
const context = (key: string): string | undefined => app.node.tryGetContext(key) ?? undefined;
new MailsiftStack(app, 'Mailsift', {
  description: 'mailsift: scheduled IMAP rulesets',
  rulesets,
  alarmEmail: context('alarmEmail'),
  parameterPrefix: context('parameterPrefix'),
  parameterKeyArn: context('parameterKeyArn'),
  memorySize: context('memorySize') === undefined ? undefined : Number(context('memorySize')),
  reserveConcurrency: context('reserveConcurrency') !== 'false',
  // -c oauth2Accounts=billing,ops: the accounts whose rotated refresh tokens are written back.
  oauth2Accounts: context('oauth2Accounts')?.split(',').filter(Boolean),
});
// AwsSolutions checks run on every synth: an unsuppressed finding is an error that stops it.
Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
app.synth();
