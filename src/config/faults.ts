/**
 * The `--blob-faults` spec of `compactd serve`: TESTING ONLY. It turns on the fault-injecting
 * blob decorator (src/blob/faulty.ts) under the service's retries, in every worker thread and in
 * the main thread, so fault campaigns and crash tests can exercise a running service. It is a
 * command-line flag only (never read from the environment) and the server logs a warning at
 * start while it is on.
 *
 * Syntax: URL query form, `errorRate=0.1&latencyMs=5&latencyJitterMs=200&ops=get,set&seed=7`.
 *   errorRate        probability in [0, 1] that a matching operation fails (UNAVAILABLE, retried)
 *   latencyMs        delay added before every operation
 *   latencyJitterMs  extra delay drawn uniformly from [0, latencyJitterMs) per operation
 *   ops              operations that may fail: get, set, delete, head, list (default all)
 *   permanent        true: every matching operation fails
 *   indeterminate    true: a failing set or delete is applied half the time before it fails
 *   failKeys         a regular expression: operations on matching keys always fail
 *   seed             seed of the fault sequence (default 1)
 */
import { CompactdError } from '../model/errors.js';

export const FAULT_OPS = ['get', 'set', 'delete', 'head', 'list'] as const;
export type FaultOp = (typeof FAULT_OPS)[number];

/** A parsed fault spec: plain data, so it can travel to worker threads. */
export interface FaultSpec {
  readonly errorRate: number;
  readonly latencyMs: number;
  readonly latencyJitterMs: number;
  readonly ops: readonly FaultOp[];
  readonly permanent: boolean;
  readonly indeterminate: boolean;
  /** Source of a regular expression, or '' for none. */
  readonly failKeys: string;
  readonly seed: number;
}

const FIELDS = new Set(['errorRate', 'latencyMs', 'latencyJitterMs', 'ops', 'permanent', 'indeterminate', 'failKeys', 'seed']);

function bad(why: string): CompactdError {
  return new CompactdError('invalid', `bad fault spec: ${why}`);
}

function number(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw bad(`${name} must be a number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

function flag(name: string, raw: string): boolean {
  if (raw === 'true' || raw === '1' || raw === '') return true;
  if (raw === 'false' || raw === '0') return false;
  throw bad(`${name} must be true or false, got ${JSON.stringify(raw)}`);
}

/**
 * Parses a fault spec (see the module comment). Throws CompactdError `invalid` naming the bad
 * field. A spec that injects nothing (all defaults) is allowed: it still adds the decorator.
 */
export function parseFaultSpec(text: string): FaultSpec {
  const params = new URLSearchParams(text);
  const seen = new Set<string>();
  const out = { errorRate: 0, latencyMs: 0, latencyJitterMs: 0, ops: [...FAULT_OPS] as FaultOp[], permanent: false, indeterminate: false, failKeys: '', seed: 1 };
  for (const [name, raw] of params) {
    if (!FIELDS.has(name)) throw bad(`unknown field ${JSON.stringify(name)} (expected ${[...FIELDS].join(', ')})`);
    if (seen.has(name)) throw bad(`${name} given twice`);
    seen.add(name);
    switch (name) {
      case 'errorRate':
        out.errorRate = number(name, raw, 0, 1);
        break;
      case 'latencyMs':
      case 'latencyJitterMs':
        out[name] = number(name, raw, 0, 600_000);
        break;
      case 'seed':
        out.seed = Math.trunc(number(name, raw, 0, 2 ** 32 - 1));
        break;
      case 'permanent':
      case 'indeterminate':
        out[name] = flag(name, raw);
        break;
      case 'ops': {
        const ops = raw.split(',').map((s) => s.trim());
        for (const op of ops) if (!(FAULT_OPS as readonly string[]).includes(op)) throw bad(`ops: unknown operation ${JSON.stringify(op)}`);
        out.ops = ops as FaultOp[];
        break;
      }
      case 'failKeys':
        try {
          new RegExp(raw);
        } catch {
          throw bad(`failKeys is not a regular expression: ${JSON.stringify(raw)}`);
        }
        out.failKeys = raw;
        break;
    }
  }
  return Object.freeze(out);
}
