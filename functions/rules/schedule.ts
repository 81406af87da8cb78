const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\((.+)\)$/;
// Allowed characters per cron field, in EventBridge order: minutes hours day-of-month month day-of-week year.
const CRON_FIELDS = [
  /^[0-9,\-*/]+$/,
  /^[0-9,\-*/]+$/,
  /^[0-9,\-*/?LW]+$/,
  /^([0-9,\-*/]|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)+$/i,
  /^([0-9,\-*/?L#]|SUN|MON|TUE|WED|THU|FRI|SAT)+$/i,
  /^[0-9,\-*/]+$/,
];

/**
 * Checks an EventBridge Scheduler recurring expression; returns what is wrong, or undefined when valid.
 * One-time `at(...)` schedules are refused: a ruleset is a recurring job.
 */
export function explainScheduleProblem(expression: string): string | undefined {
  const rate = RATE.exec(expression);
  if (rate) {
    const value = Number(rate[1]);
    const unit = rate[2] ?? '';
    if (value < 1) return 'expected a rate of at least 1';
    // EventBridge rejects "rate(1 minutes)" and "rate(5 minute)".
    if ((value === 1) !== !unit.endsWith('s')) {
      return `expected "${value === 1 ? unit.replace(/s$/, '') : `${unit}s`}" with a value of ${value}`;
    }
    return undefined;
  }
  const cron = CRON.exec(expression);
  if (cron) {
    const fields = (cron[1] ?? '').trim().split(/\s+/);
    if (fields.length !== 6) {
      return 'expected cron(minutes hours day-of-month month day-of-week year) with 6 fields';
    }
    const bad = fields.findIndex((field, index) => !CRON_FIELDS[index]?.test(field));
    if (bad >= 0) return `cron field ${bad + 1} ("${fields[bad]}") is not valid`;
    if ((fields[2] === '?') === (fields[4] === '?')) {
      return 'expected "?" in exactly one of day-of-month and day-of-week';
    }
    return undefined;
  }
  return 'expected rate(N minutes|hours|days) or cron(minutes hours day-of-month month day-of-week year)';
}

/** True when `zone` is an IANA time zone this runtime knows. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
