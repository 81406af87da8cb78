import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { type FileProblem, OfflineEvaluationError, RuleFileError } from '../errors.ts';
import type { MessageFacts } from '../match/facts.ts';
import { messageFacts } from '../match/message-file.ts';
import {
  findRuleFiles,
  formatPath,
  loadRuleFile,
  parseValidatedYaml,
  TEST_FILE_PATTERN,
} from '../rules/load.ts';
import { rulesetsOf } from '../rules/rulesets.ts';
import type { Ruleset } from '../rules/schema.ts';
import { type TestCase, TestFileSchema } from '../rules/test-file.ts';
import { type Simulation, simulate } from './simulate.ts';

/** A test file loaded: its ruleset, and each case with its message read. */
export interface TestSuite {
  readonly file: string;
  readonly ruleset: Ruleset;
  readonly now: Date;
  readonly cases: readonly { readonly spec: TestCase; readonly message: MessageFacts }[];
}

export interface CaseResult {
  readonly file: string;
  readonly name: string;
  readonly ok: boolean;
  readonly acts: readonly string[];
  readonly actions: readonly string[];
  readonly expected: TestCase['expect'];
  /** The whole simulation, for the explain trees of a failure; absent when the case could not be run. */
  readonly simulation?: Simulation;
  /** Why the case could not be decided offline (gmailSearch). */
  readonly error?: string;
}

/** Test files under `paths`: `*.test.yaml` files as given, directories searched through. */
export function findTestFiles(paths: readonly string[]): string[] {
  return paths.flatMap((path) => {
    let isDirectory = false;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch {
      return [path]; // reported as unreadable
    }
    if (!isDirectory) return [path];
    return readdirSync(path, { withFileTypes: true })
      .sort((a, b) => a.name.localeCompare(b.name))
      .flatMap((entry) =>
        entry.isDirectory()
          ? findTestFiles([join(path, entry.name)])
          : TEST_FILE_PATTERN.test(entry.name)
            ? [join(path, entry.name)]
            : [],
      );
  });
}

/**
 * Loads every test file under `paths` with its ruleset: the rule file named by `ruleset` beside it, else among the
 * rule files of the directories given.
 * @throws RuleFileError with every problem of every file (unknown ruleset or rule, missing message file)
 */
export function loadTestSuites(paths: readonly string[]): TestSuite[] {
  const files = findTestFiles(paths);
  if (files.length === 0) {
    throw new RuleFileError([
      { file: paths.join(', '), path: '', message: 'no test files (*.test.yaml) found' },
    ]);
  }
  const suites: TestSuite[] = [];
  const problems: FileProblem[] = [];
  for (const file of files) {
    try {
      suites.push(loadSuite(file, paths));
    } catch (error) {
      if (!(error instanceof RuleFileError)) throw error;
      problems.push(...error.problems);
    }
  }
  if (problems.length > 0) throw new RuleFileError(problems);
  return suites;
}

function loadSuite(file: string, paths: readonly string[]): TestSuite {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new RuleFileError([
      { file, path: '', message: `cannot read: ${(error as NodeJS.ErrnoException).code}` },
    ]);
  }
  const { data, lineOf } = parseValidatedYaml(file, text, TestFileSchema);
  const problem = (path: PropertyKey[], message: string): FileProblem => ({
    file,
    line: lineOf(path),
    path: formatPath(path),
    message,
  });
  const ruleset = findRuleset(data.ruleset, file, paths);
  if (!ruleset) {
    throw new RuleFileError([
      problem(['ruleset'], `no rule file ${data.ruleset}.yaml beside this file or in ${paths.join(', ')}`),
    ]);
  }
  const problems: FileProblem[] = [];
  const now = data.now ?? new Date();
  const names = ruleset.rules.map((rule) => rule.name);
  const cases = data.cases.flatMap((spec, index) => {
    spec.expect.acts.forEach((name, position) => {
      if (!names.includes(name)) {
        problems.push(
          problem(
            ['cases', index, 'expect', 'acts', position],
            `no rule "${name}" in ruleset ${ruleset.name} (its rules: ${names.join(', ')})`,
          ),
        );
      }
    });
    const path = resolve(dirname(file), spec.message);
    try {
      const raw = readFileSync(path);
      return [
        {
          spec,
          message: messageFacts(raw, {
            flags: spec.flags,
            ...(spec.received ? { received: spec.received } : {}),
          }),
        },
      ];
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      problems.push(
        problem(['cases', index, 'message'], `cannot read message file ${spec.message}: ${code}`),
      );
      return [];
    }
  });
  if (problems.length > 0) throw new RuleFileError(problems);
  return { file, ruleset, now, cases };
}

/** The ruleset a test file names: its rule file beside it first, then among the rule files under `paths`. */
function findRuleset(name: string, file: string, paths: readonly string[]): Ruleset | undefined {
  const beside = ['.yaml', '.yml'].map((extension) => join(dirname(file), `${name}${extension}`));
  const directories = paths.filter((path) => {
    try {
      return statSync(path).isDirectory();
    } catch {
      return false;
    }
  });
  const candidates = [...beside, ...findRuleFiles(directories)];
  const found = candidates.find((candidate) => {
    try {
      return statSync(candidate).isFile() && basename(candidate).replace(/\.ya?ml$/, '') === name;
    } catch {
      return false;
    }
  });
  if (!found) return undefined;
  // One rule file may serve several accounts; the rules are the same for each.
  return rulesetsOf(loadRuleFile(found))[0];
}

/** Runs every case of the suites offline. */
export function runSuites(suites: readonly TestSuite[]): CaseResult[] {
  return suites.flatMap((suite) =>
    suite.cases.map(({ spec, message }) => {
      const base = { file: suite.file, name: spec.name, expected: spec.expect };
      const mailbox = spec.mailbox ?? suite.ruleset.mailbox;
      try {
        const simulation = simulate(suite.ruleset, message, { mailbox, now: suite.now });
        const ok =
          sameList(simulation.acts, spec.expect.acts) &&
          (spec.expect.actions === undefined || sameList(simulation.actions, spec.expect.actions));
        return { ...base, ok, acts: simulation.acts, actions: simulation.actions, simulation };
      } catch (error) {
        if (!(error instanceof OfflineEvaluationError)) throw error;
        return { ...base, ok: false, acts: [], actions: [], error: error.message };
      }
    }),
  );
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((each, index) => each === b[index]);
}
