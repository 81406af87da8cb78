import { createHash } from 'node:crypto';

/** A construct id from a name (letters and digits), with a short digest so different names never collide. */
export function idOf(name: string): string {
  const readable = name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]?.toUpperCase() + part.slice(1))
    .join('')
    .slice(0, 48);
  return `${readable}${createHash('sha256').update(name).digest('hex').slice(0, 8)}`;
}
