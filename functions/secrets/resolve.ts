import { MailsiftError } from '../errors.ts';
import type { SecretReference } from '../rules/schema-kit.ts';

/** Turns `{ parameter }` / `{ env }` references from rule files into values. */
export interface SecretResolver {
  resolve(reference: SecretReference): Promise<string>;
}

/** A secret a rule refers to cannot be found. */
export class SecretNotFoundError extends MailsiftError {}

/**
 * `{ env }` from `env`; `{ parameter }` from `parameters` (a name → value lookup), or an error saying where
 * parameters come from when there is none.
 */
export function mapSecretResolver(
  env: NodeJS.ProcessEnv,
  parameters?: { readonly source: string; get(name: string): Promise<string | undefined> },
): SecretResolver {
  return {
    async resolve(reference) {
      if ('env' in reference) {
        const value = env[reference.env];
        if (!value) throw new SecretNotFoundError(`environment variable ${reference.env} is not set`);
        return value;
      }
      if (!parameters) {
        throw new SecretNotFoundError(
          `parameter ${reference.parameter} needs a parameters file (--parameters FILE or MAILSIFT_PARAMETERS)`,
        );
      }
      const value = await parameters.get(reference.parameter);
      if (!value)
        throw new SecretNotFoundError(`parameter ${reference.parameter} is not in ${parameters.source}`);
      return value;
    },
  };
}
