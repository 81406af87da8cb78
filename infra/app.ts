import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RuleFileError } from '../functions/errors.ts';
import { loadRuleFiles } from '../functions/rules/load.ts';
import type { RuleFile } from '../functions/rules/schema.ts';
import { MailsiftStack } from './mailsift-stack.ts';

// Rule files are validated with the same loader as `mailsift validate`; an invalid file stops the synth
// with the same messages.
const rulesDir = process.env.MAILSIFT_RULES_DIR ?? 'rules';
let ruleFiles: RuleFile[];
try {
  ruleFiles = loadRuleFiles([rulesDir]);
} catch (error) {
  if (!(error instanceof RuleFileError)) throw error;
  process.stderr.write(`${error.message}\n${error.problems.length} problem(s); cdk synth stopped.\n`);
  process.exit(1);
}

const app = new App();
const context = (key: string): string | undefined => app.node.tryGetContext(key) ?? undefined;
const number = (key: string) => (context(key) === undefined ? undefined : Number(context(key)));
new MailsiftStack(app, 'Mailsift', {
  description: 'mailsift: scheduled IMAP rulesets',
  ruleFiles,
  alarmEmail: context('alarmEmail'),
  parameterPrefix: context('parameterPrefix'),
  parameterKeyArn: context('parameterKeyArn'),
  memorySize: number('memorySize'),
  maxConcurrency: number('maxConcurrency'),
  failedRunsAlarmThreshold: number('failedRunsAlarmThreshold'),
  // -c oauth2=true (a string on the command line, a boolean in cdk.json); -c oauth2Accounts=a,b, the earlier
  // setting, still turns it on.
  oauth2: String(app.node.tryGetContext('oauth2')) === 'true' || Boolean(context('oauth2Accounts')),
});
// AwsSolutions checks run on every synth: an unsuppressed finding is an error that stops it.
Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
app.synth();
