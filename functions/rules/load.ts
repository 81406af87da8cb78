import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { type Document, isNode, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { type FileProblem, RuleFileError } from '../errors.ts';
import { rulesetsOf } from './rulesets.ts';
import { type RuleFile, type Ruleset, RulesetSchema } from './schema.ts';

const RULE_FILE_EXTENSIONS = new Set(['.yaml', '.yml']);

/** `['rules', 1, 'moveTo']` → `rules[1].moveTo`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, index) =>
      typeof key === 'number' ? `[${key}]` : index === 0 ? String(key) : `.${String(key)}`,
    )
    .join('');
}

function describeIssue(issue: z.core.$ZodIssue, present: boolean): string {
  // zod's own wording starts with "Invalid input"; ours (set in the schema) already says what is expected.
  const expected =
    issue.message.startsWith('Invalid') && issue.code === 'invalid_type'
      ? `expected ${issue.expected}`
      : issue.message;
  return present ? expected : `missing: ${expected}`;
}

/** Line of the deepest YAML node on `path` that exists (a missing key points at its parent). */
function lineOf(doc: Document, lines: LineCounter, path: readonly PropertyKey[]): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth) as unknown[], true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}

/** Turns zod issues into problems, one per unknown key so each has its own path and line. */
function problemsFromIssues(
  file: string,
  doc: Document,
  lines: LineCounter,
  issues: readonly z.core.$ZodIssue[],
): FileProblem[] {
  return issues.flatMap((issue): FileProblem[] => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => {
        const path = [...issue.path, key];
        return { file, line: lineOf(doc, lines, path), path: formatPath(path), message: 'unknown key' };
      });
    }
    const present = issue.code !== 'invalid_type' || doc.hasIn(issue.path as unknown[]);
    const message = describeIssue(issue, present);
    return [{ file, line: lineOf(doc, lines, issue.path), path: formatPath(issue.path), message }];
  });
}

/** A YAML file's content, validated, with the line of each of its paths. */
export interface ValidatedYaml<T> {
  readonly data: T;
  /** The line of the deepest node on `path` that exists. */
  lineOf(path: readonly PropertyKey[]): number | undefined;
}

/**
 * Parses a YAML file's text and validates it against a zod schema (rule files, test files).
 * @throws RuleFileError listing every problem, each with file, line and field path.
 */
export function parseValidatedYaml<T>(file: string, text: string, schema: z.ZodType<T>): ValidatedYaml<T> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new RuleFileError(
      doc.errors.map((error) => ({
        file,
        line: error.linePos?.[0].line,
        path: '',
        message: `YAML syntax: ${(error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`,
      })),
    );
  }
  const parsed = schema.safeParse(doc.toJS({ maxAliasCount: 100 }));
  if (!parsed.success) {
    const problems = problemsFromIssues(file, doc, lines, parsed.error.issues);
    throw new RuleFileError(problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)));
  }
  return { data: parsed.data, lineOf: (path) => lineOf(doc, lines, path) };
}

/**
 * Parses and validates one rule file's text.
 * @throws RuleFileError listing every problem in the file.
 */
export function parseRuleFile(file: string, text: string): RuleFile {
  const { account, accounts, ...rules } = parseValidatedYaml(file, text, RulesetSchema).data;
  return { ...rules, name: basename(file, extname(file)), accounts: accounts ?? [account as string] };
}

/**
 * Parses a rule file of one account into its ruleset.
 * @throws RuleFileError when the file is invalid or lists several accounts.
 */
export function parseRuleset(file: string, text: string): Ruleset {
  const rulesets = rulesetsOf(parseRuleFile(file, text));
  if (rulesets.length !== 1)
    throw new RuleFileError([{ file, path: 'accounts', message: 'expected one account here' }]);
  return rulesets[0] as Ruleset;
}

/**
 * Reads and validates one rule file.
 * @throws RuleFileError when it cannot be read or is invalid.
 */
export function loadRuleFile(file: string): RuleFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new RuleFileError([
      { file, path: '', message: `cannot read: ${(error as NodeJS.ErrnoException).code}` },
    ]);
  }
  return parseRuleFile(file, text);
}

/** A rule file's test file (`NAME.test.yaml`, `mailsift test`): not a rule file. */
export const TEST_FILE_PATTERN = /\.test\.ya?ml$/;

/** Rule files named by `paths`: files as given, directories expanded to their *.yaml/*.yml (not tests), sorted. */
export function findRuleFiles(paths: readonly string[]): string[] {
  return paths.flatMap((path) => {
    let isDirectory = false;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch {
      return [path]; // reported as unreadable by loadRuleFile
    }
    if (!isDirectory) return [path];
    return readdirSync(path)
      .filter((name) => RULE_FILE_EXTENSIONS.has(extname(name)) && !TEST_FILE_PATTERN.test(name))
      .sort()
      .map((name) => join(path, name));
  });
}

/**
 * Loads every rule file under `paths`, collecting the problems of all files before failing.
 * @throws RuleFileError with every problem of every invalid file, or when no file is found.
 */
export function loadRuleFiles(paths: readonly string[]): RuleFile[] {
  const files = findRuleFiles(paths);
  if (files.length === 0) {
    throw new RuleFileError([{ file: paths.join(', '), path: '', message: 'no rule files (*.yaml) found' }]);
  }
  const ruleFiles: RuleFile[] = [];
  const problems: FileProblem[] = [];
  const fileByName = new Map<string, string>();
  for (const file of files) {
    try {
      const ruleFile = loadRuleFile(file);
      const other = fileByName.get(ruleFile.name);
      // The file name is the ruleset's identity (schedules, logs), so two files may not share one.
      if (other)
        problems.push({
          file,
          path: '',
          message: `ruleset name "${ruleFile.name}" is also used by ${other}`,
        });
      fileByName.set(ruleFile.name, file);
      ruleFiles.push(ruleFile);
    } catch (error) {
      if (!(error instanceof RuleFileError)) throw error;
      problems.push(...error.problems);
    }
  }
  if (problems.length > 0) throw new RuleFileError(problems);
  return ruleFiles;
}

/** The rulesets of every rule file under `paths`: one per file and account. @throws RuleFileError */
export function loadRulesets(paths: readonly string[]): Ruleset[] {
  return loadRuleFiles(paths).flatMap(rulesetsOf);
}
