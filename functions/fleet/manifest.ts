import { rulesetFor } from '../rules/rulesets.ts';
import type { RuleFile, Ruleset } from '../rules/schema.ts';
import type { RunMessage } from './run-message.ts';

/**
 * What the AWS functions are built with (inlined by infra/bundle.ts): the validated rule files, and which of them
 * run at each schedule. One schedule per distinct (expression, time zone), however many files and accounts.
 */
export interface FleetManifest {
  readonly ruleFiles: Readonly<Record<string, RuleFile>>;
  /** Schedule key (see `scheduleKey`) → the names of the rule files on it, sorted. */
  readonly schedules: Readonly<Record<string, readonly string[]>>;
}

/** `rate(15 minutes)`, or `cron(0 3 * * ? *) Europe/Berlin` where a time zone is set. */
export function scheduleKey(file: Pick<RuleFile, 'schedule' | 'timezone'>): string {
  return file.timezone ? `${file.schedule} ${file.timezone}` : file.schedule;
}

export function fleetManifest(files: readonly RuleFile[]): FleetManifest {
  const ruleFiles: Record<string, RuleFile> = {};
  const schedules: Record<string, string[]> = {};
  for (const file of [...files].sort((a, b) => a.name.localeCompare(b.name))) {
    ruleFiles[file.name] = file;
    const key = scheduleKey(file);
    schedules[key] ??= [];
    schedules[key].push(file.name);
  }
  return { ruleFiles, schedules };
}

/** The runs a tick of `key` at `scheduledTime` starts: each of its files on each of their accounts. */
export function runsDue(manifest: FleetManifest, key: string, scheduledTime: string): RunMessage[] {
  return (manifest.schedules[key] ?? []).flatMap((name) =>
    (manifest.ruleFiles[name]?.accounts ?? []).map((account) => ({ ruleset: name, account, scheduledTime })),
  );
}

/** Looks a message's (ruleset, account) up; undefined when the deployed rule files no longer have it. */
export function rulesetLookup(manifest: FleetManifest) {
  return (name: string, account: string): Ruleset | undefined => {
    const file = Object.hasOwn(manifest.ruleFiles, name) ? manifest.ruleFiles[name] : undefined;
    return file?.accounts.includes(account) ? rulesetFor(file, account) : undefined;
  };
}
