import { Aws } from 'aws-cdk-lib';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { ACTIONS } from '../functions/engine/actions/index.ts';
import type { RuleFile } from '../functions/rules/schema.ts';
import { accountParameterName, refreshTokenParameterName } from '../functions/secrets/ssm.ts';

/**
 * Named parameters a policy lists one by one before synth refuses: IAM's inline policies stop at 10,240
 * characters, and a parameter ARN takes about 80.
 */
export const MAX_NAMED_PARAMETERS = 60;

/** Every `{ parameter }` a rule file's actions read at run time, as each action's definition names them. */
function referencedParameters(file: RuleFile): string[] {
  return file.rules.flatMap((rule) =>
    rule.actions.flatMap((action) =>
      ACTIONS.flatMap((definition) => {
        const params = Object.entries(action).find(([key]) => key === definition.key)?.[1];
        return params === undefined ? [] : definition.parameters(params);
      }),
    ),
  );
}

const arnOf = (name: string) => `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter${name}`;

/**
 * What the worker may read and write in Parameter Store, in a size that does not grow with the accounts: the
 * account parameters by their prefix (`<prefix>/accounts/*`), the parameters rule files name (webhook URLs and
 * secrets: a few per file, listed), and with OAuth2 the refresh tokens by theirs (`<prefix>/oauth/*`).
 */
export function parameterGrants(files: readonly RuleFile[], prefix: string, oauth2: boolean) {
  const named = [...new Set(files.flatMap(referencedParameters))].sort();
  if (named.length > MAX_NAMED_PARAMETERS)
    throw new Error(
      `MailsiftStack: the rule files name ${named.length} parameters (at most ${MAX_NAMED_PARAMETERS}, or the ` +
        `worker's policy grows past IAM's limit); share them between files`,
    );
  const accounts = accountParameterName(prefix, '*');
  const tokens = refreshTokenParameterName(prefix, '*');
  return {
    readable: [arnOf(accounts), ...named.map(arnOf)],
    writable: oauth2 ? [arnOf(tokens)] : [],
    /** cdk-nag's finding for the two prefixes, each with its reason. */
    suppress(fn: LambdaFunction) {
      NagSuppressions.addResourceSuppressions(
        fn.role as LambdaFunction['role'] & Construct,
        [
          {
            id: 'AwsSolutions-IAM5',
            reason: `Account parameters by prefix (${accounts}): one statement for any number of accounts.`,
            appliesTo: [
              `Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter${accounts}`,
            ],
          },
          ...(oauth2
            ? [
                {
                  id: 'AwsSolutions-IAM5',
                  reason: `OAuth2 refresh tokens by prefix (${tokens}): read, and written back when rotated.`,
                  appliesTo: [
                    `Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter${tokens}`,
                  ],
                },
              ]
            : []),
        ],
        true,
      );
    },
  };
}
