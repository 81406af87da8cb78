import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

/** `npm run synth` (the real cdk CLI), offline, with no AWS credentials. */
function synth(env: Record<string, string>) {
  const output = mkdtempSync(join(tmpdir(), 'mailsift-synth-'));
  const result = spawnSync('npx', ['cdk', 'synth', '--no-notices', '-q', '--output', output], {
    encoding: 'utf8',
    timeout: 120_000,
    env: {
      ...process.env,
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_PROFILE: 'mailsift-no-such-profile',
      AWS_EC2_METADATA_DISABLED: 'true',
      ...env,
    },
  });
  return { code: result.status, stderr: result.stderr, output };
}

describe('cdk synth', () => {
  it('synthesises the shipped rules offline, without credentials', () => {
    const result = synth({});
    assert.equal(result.code, 0, result.stderr);
    const template = JSON.parse(readFileSync(join(result.output, 'Mailsift.template.json'), 'utf8'));
    const schedules = Object.values(template.Resources as Record<string, { Type: string }>).filter(
      (resource) => resource.Type === 'AWS::Scheduler::Schedule',
    );
    assert.equal(schedules.length, 4);
    assert.ok(existsSync(join(result.output, 'AwsSolutions--Mailsift-NagReport.csv')));
  });

  it('stops with the same messages as mailsift validate on an invalid rule file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailsift-bad-rules-'));
    writeFileSync(join(dir, 'bad.yaml'), 'account: a\nschedule: rate(5 minute)\nrules: []\n');
    const result = synth({ MAILSIFT_RULES_DIR: dir });
    assert.notEqual(result.code, 0);
    assert.ok(
      result.stderr.includes(
        `${dir}/bad.yaml:2: schedule: expected "minutes" with a value of 5\n` +
          `${dir}/bad.yaml:3: rules: expected at least one rule\n2 problem(s); cdk synth stopped.\n`,
      ),
      result.stderr,
    );
  });
});
