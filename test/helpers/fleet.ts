import { parseRuleFile } from '../../functions/rules/load.ts';
import type { RuleFile } from '../../functions/rules/schema.ts';

const SCHEDULES = ['rate(15 minutes)', 'rate(5 minutes)'];

/**
 * `files` generated rule files (through the real loader), each for the same `accounts` accounts
 * `customer-00001`…: the shape of a provider filing mail for thousands of customers. Schedules alternate between
 * two of the shipped ones. With `webhookPerFile`, each file posts to a webhook parameter of its own.
 */
export function fleetRuleFiles(
  accounts: number,
  files: number,
  options: { readonly webhookPerFile?: boolean } = {},
): RuleFile[] {
  const names = Array.from({ length: accounts }, (_, i) => `customer-${String(i + 1).padStart(5, '0')}`);
  return Array.from({ length: files }, (_, index) => {
    const action = options.webhookPerFile
      ? `{ webhook: { url: { parameter: /mailsift/webhooks/fleet-${index} } } }, { addFlags: ['\\Seen'] }`
      : '{ addFlags: [$Invoice] }, { moveTo: Finance/Invoices }';
    const yaml =
      `accounts: [${names.join(', ')}]\nschedule: ${SCHEDULES[index % SCHEDULES.length]}\nrules:\n` +
      `  - { name: file-${index}, match: { from: billing@, subject: invoice }, actions: [${action}] }\n`;
    return parseRuleFile(`rules/fleet-${index}.yaml`, yaml);
  });
}
