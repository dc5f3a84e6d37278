/**
 * Readers for the deployment files, shaped for the checks in this folder: compose-style variable
 * interpolation, a minimal Dockerfile reader (instructions with continuation lines joined and
 * exec-form arguments decoded), PromQL metric selectors, and Kubernetes quantities.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { ROOT } from '../helpers/cli.js';

/** A file of the repository as text. */
export function repoText(rel: string): string {
  return readFileSync(path.join(ROOT, rel), 'utf8');
}

/**
 * Compose interpolation with an empty environment: `${VAR:-default}` and `${VAR-default}` give
 * the default, `${VAR}` and `$VAR` the value from `env` (else empty), `$$` a literal `$`.
 */
export function interpolate(text: string, env: Readonly<Record<string, string>> = {}): string {
  return text.replace(/\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (_m, dollar, braced, op, def, bare) => {
    if (dollar === '$') return '$';
    const name = braced ?? bare;
    const value = env[name];
    if (op === ':-') return value === undefined || value === '' ? def : value;
    if (op === '-') return value === undefined ? def : value;
    return value ?? '';
  });
}

/** A YAML file with YAML merge keys (`<<: *anchor`) applied, interpolated first when asked. */
export function loadYaml<T = unknown>(rel: string, opts: { interpolate?: boolean } = {}): T {
  const text = repoText(rel);
  return parse(opts.interpolate ? interpolate(text) : text, { merge: true }) as T;
}

/** Every document of a multi-document YAML file. */
export function loadYamlDocuments(rel: string): unknown[] {
  return parseAllDocuments(repoText(rel)).map((d) => {
    if (d.errors.length > 0) throw new Error(`${rel}: ${d.errors[0].message}`);
    return d.toJS();
  });
}

export interface DockerInstruction {
  readonly keyword: string;
  /** The text after the keyword, continuation lines joined. */
  readonly text: string;
  /** Exec-form (JSON array) arguments when the text is one. */
  readonly exec?: string[];
  /** Index of the stage (FROM) this instruction belongs to; FROM starts a new one. */
  readonly stage: number;
}

/** The instructions of a Dockerfile, in order (comments and parser directives skipped). */
export function dockerInstructions(text: string): DockerInstruction[] {
  const out: DockerInstruction[] = [];
  let stage = -1;
  let pending = '';
  const flush = () => {
    const line = pending.trim();
    pending = '';
    if (line === '') return;
    const m = /^(\S+)\s*([\s\S]*)$/.exec(line)!;
    const keyword = m[1].toUpperCase();
    if (keyword === 'FROM') stage++;
    const rest = m[2].trim();
    let exec: string[] | undefined;
    const json = /^(?:--\S+\s+)*(?:CMD\s+)?(\[[\s\S]*\])$/.exec(rest);
    if (json) {
      try {
        exec = JSON.parse(json[1]) as string[];
      } catch {
        exec = undefined;
      }
    }
    out.push({ keyword, text: rest, stage, ...(exec ? { exec } : {}) });
  };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (pending === '' && /^\s*#/.test(line)) continue;
    if (/^\s*#/.test(line)) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    pending += line;
    flush();
  }
  flush();
  return out;
}

/** `KEY=value` pairs of an ENV instruction (the `KEY=value KEY2=value2` form). */
export function envPairs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g)) out[m[1]] = m[2].replace(/^"|"$/g, '');
  return out;
}

/** The metric names a PromQL expression selects (`name{...}`), e.g. `compactd_queue_depth`. */
export function selectedMetrics(expr: string): string[] {
  return [...expr.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*\{/g)].map((m) => m[1]);
}

/** The `label="value"` matchers of every selector in a PromQL expression. */
export function labelMatchers(expr: string, label: string): string[] {
  return [...expr.matchAll(new RegExp(`[{,]\\s*${label}\\s*=\\s*"([^"]*)"`, 'g'))].map((m) => m[1]);
}

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
const DECIMAL: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, m: 1e-3 };

/** A Kubernetes quantity as a number: `3Gi` bytes, `500m` CPUs, `2` CPUs. */
export function quantity(q: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T|m)?$/.exec(String(q));
  if (!m) throw new Error(`not a quantity: ${q}`);
  const unit = m[2] ?? '';
  return Number(m[1]) * (BINARY[unit] ?? DECIMAL[unit]);
}
