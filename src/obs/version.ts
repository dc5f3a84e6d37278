/**
 * The version of this compactd build, read once from package.json (which sits two levels above
 * this module both in src/obs and in dist/obs).
 */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** The `version` of package.json, or 'unknown' when it cannot be read. */
export function packageVersion(): string {
  if (cached !== undefined) return cached;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    cached = pkg.version ?? 'unknown';
  } catch {
    cached = 'unknown';
  }
  return cached;
}
