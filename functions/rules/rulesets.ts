import type { RuleFile, Ruleset } from './schema.ts';

// Apart from schema.ts (which builds the zod schema at import): the Lambda bundles use these, and zod stays out.

/** The rulesets of a rule file, one per account, in its order. */
export function rulesetsOf(file: RuleFile): Ruleset[] {
  return file.accounts.map((account) => rulesetFor(file, account));
}

/** A rule file's rules on one account. */
export function rulesetFor(file: RuleFile, account: string): Ruleset {
  const { accounts: _all, ...rules } = file;
  return { ...rules, account };
}
