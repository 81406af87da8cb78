import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { AccountError, MailsiftError } from '../errors.ts';
import type { SecretReference } from '../rules/schema.ts';

/** Turns `{ parameter }` / `{ env }` references from rule files into values. */
export interface SecretResolver {
  resolve(reference: SecretReference): Promise<string>;
}

/** A secret a rule refers to cannot be found. */
export class SecretNotFoundError extends MailsiftError {}

/**
 * For the CLI: `{ env }` from the environment, `{ parameter }` from a local YAML/JSON file that maps
 * parameter names to values (a stand-in for Parameter Store).
 * @throws AccountError when the parameters file cannot be read.
 */
export function localSecretResolver(env: NodeJS.ProcessEnv, parametersFile?: string): SecretResolver {
  let parameters: Record<string, unknown> = {};
  if (parametersFile) {
    try {
      const data: unknown = parseYaml(readFileSync(parametersFile, 'utf8'));
      if (data && typeof data === 'object') parameters = data as Record<string, unknown>;
    } catch (error) {
      throw new AccountError(
        `cannot read parameters file ${parametersFile} (${(error as Error).message.split('\n')[0]})`,
      );
    }
  }
  return {
    async resolve(reference) {
      if ('env' in reference) {
        const value = env[reference.env];
        if (!value) throw new SecretNotFoundError(`environment variable ${reference.env} is not set`);
        return value;
      }
      const value = parameters[reference.parameter];
      if (typeof value !== 'string' || value === '') {
        throw new SecretNotFoundError(
          parametersFile
            ? `parameter ${reference.parameter} is not in ${parametersFile}`
            : `parameter ${reference.parameter} needs a parameters file (--parameters FILE or MAILSIFT_PARAMETERS)`,
        );
      }
      return value;
    },
  };
}
