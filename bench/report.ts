/**
 * What every section hands back, and the one markdown table they are printed in. A row shows a
 * figure by wall time and, where it means something, by CPU time; a row with a target says what
 * the target is, which of the two figures it judges, and whether it was met.
 */

export interface Check {
  /** The target as printed, e.g. ">= 200 MB/s (CPU)". */
  readonly text: string;
  readonly pass: boolean;
}

export interface Row {
  readonly name: string;
  /** The figure by wall-clock time (or the only figure). */
  readonly wall: string;
  /** The same figure by process CPU time, where it differs in meaning. */
  readonly cpu?: string;
  readonly check?: Check;
}

export interface SectionResult {
  /** Short name, as given to --only. */
  readonly name: string;
  readonly title: string;
  readonly rows: readonly Row[];
  /** Set when the section could not run: the rows are then empty. */
  readonly skipped?: string;
  /** Everything measured, for --json. */
  readonly data: unknown;
}

/** A target `value <op> limit`, with the limit shown as given. */
export function atLeast(value: number, limit: number, label: string): Check {
  return { text: `>= ${label}`, pass: value >= limit };
}

export function atMost(value: number, limit: number, label: string): Check {
  return { text: `<= ${label}`, pass: value <= limit };
}

/** A number with `digits` significant-looking decimals: 3 digits for small values, none for large. */
export function fmt(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(Math.max(0, digits - 2));
  if (a >= 1) return x.toFixed(Math.max(0, digits - 1));
  return x.toPrecision(digits);
}

export function fmtMs(ms: number): string {
  return ms >= 1000 ? `${fmt(ms / 1000)} s` : `${fmt(ms)} ms`;
}

export function fmtBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${fmt(bytes / 1024 ** 3)} GiB`;
  if (bytes >= 1024 ** 2) return `${fmt(bytes / 1024 ** 2)} MiB`;
  if (bytes >= 1024) return `${fmt(bytes / 1024)} KiB`;
  return `${bytes} B`;
}

export function fmtCount(n: number): string {
  if (n >= 1e6) return `${fmt(n / 1e6)} M`;
  if (n >= 1e3) return `${fmt(n / 1e3)} k`;
  return String(n);
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** The results as one markdown table: section, measurement, wall, CPU, target, result. */
export function markdownTable(sections: readonly SectionResult[]): string {
  const lines = ['| section | measurement | wall | CPU | target | met |', '| --- | --- | --- | --- | --- | --- |'];
  for (const s of sections) {
    if (s.skipped !== undefined) {
      lines.push(`| ${cell(s.title)} | skipped: ${cell(s.skipped)} | | | | |`);
      continue;
    }
    for (const r of s.rows) {
      const met = r.check === undefined ? '' : r.check.pass ? 'pass' : '**FAIL**';
      lines.push(`| ${cell(s.title)} | ${cell(r.name)} | ${cell(r.wall)} | ${cell(r.cpu ?? '')} | ${cell(r.check?.text ?? '')} | ${met} |`);
    }
  }
  return lines.join('\n');
}
