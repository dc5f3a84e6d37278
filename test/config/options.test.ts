import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_ENGINE_CONFIG } from '../../src/compact/types.js';
import { DEFAULT_REQUEST_LIMITS as DEFAULT_LIMITS } from '../../src/model/validate.js';
import { envName, readEnv } from '../../src/config/env.js';
import {
  applyConfigUpdate,
  configurationMarkdown,
  DEFAULT_MAX_DIMS,
  DEFAULT_MAX_ANTICHAIN_ELEMENTS,
  DEFAULT_MAX_INPUTS,
  DEFAULT_MAX_PARTS,
  DEFAULT_MEMORY_BOUND_BYTES,
  DEFAULT_TARGET_PART_BYTES,
  defaultWorkers,
  OPTIONS,
  parseServeOptions,
  runtimeConfigOf,
  serveHelp,
  wantsHelp,
} from '../../src/config/options.js';
import { CompactdError } from '../../src/model/errors.js';

function errorOf(fn: () => unknown): CompactdError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CompactdError);
    return err as CompactdError;
  }
  throw new Error('expected an error');
}

describe('parseServeOptions', () => {
  it('gives the docs/contract.md defaults with no flags and no environment', () => {
    const o = parseServeOptions([], {});
    expect(o).toMatchObject({
      port: 50051,
      host: '127.0.0.1',
      metricsPort: 9464,
      blob: 'file://./data',
      enabled: true,
      queueSize: 20,
      heuristicMinInputs: 8,
      heuristicMinParts: 8,
      heuristicMinUpdates: 1024,
      minimumTimeoutSeconds: 90,
      memoryBoundBytes: 1024 ** 3,
      targetPartBytes: 128 * 1024 ** 2,
      logLevel: 'info',
      graceSeconds: 30,
      maxMessageBytes: 64 * 1024 ** 2,
      compression: 'none',
    });
    expect(o.workers).toBe(defaultWorkers());
    expect(o.concurrencyLimit).toBe(o.workers);
    expect(Object.isFrozen(o)).toBe(true);
  });

  it('keeps its engine defaults equal to the engine own defaults', () => {
    expect(DEFAULT_MEMORY_BOUND_BYTES).toBe(DEFAULT_ENGINE_CONFIG.memoryBoundBytes);
    expect(DEFAULT_TARGET_PART_BYTES).toBe(DEFAULT_ENGINE_CONFIG.targetPartBytes);
    expect(DEFAULT_MAX_INPUTS).toBe(DEFAULT_LIMITS.maxInputs);
    expect(DEFAULT_MAX_PARTS).toBe(DEFAULT_LIMITS.maxParts);
    expect(DEFAULT_MAX_DIMS).toBe(DEFAULT_LIMITS.maxDims);
    expect(DEFAULT_MAX_ANTICHAIN_ELEMENTS).toBe(DEFAULT_LIMITS.maxAntichainElements);
  });

  it('lets flags win over the environment and the environment over defaults', () => {
    const env = { COMPACTD_QUEUE_SIZE: '5', COMPACTD_PORT: '7000', COMPACTD_LOG_LEVEL: 'debug' };
    const o = parseServeOptions(['--queue-size', '9', '--host=0.0.0.0'], env);
    expect(o.queueSize).toBe(9);
    expect(o.port).toBe(7000);
    expect(o.logLevel).toBe('debug');
    expect(o.host).toBe('0.0.0.0');
  });

  it('defaults the concurrency limit to the configured worker count', () => {
    expect(parseServeOptions(['--workers', '3'], {}).concurrencyLimit).toBe(3);
    expect(parseServeOptions([], { COMPACTD_WORKERS: '5' }).concurrencyLimit).toBe(5);
    expect(parseServeOptions(['--workers', '3', '--concurrency-limit', '7'], {}).concurrencyLimit).toBe(7);
    expect(parseServeOptions(['--workers', '3'], { COMPACTD_CONCURRENCY_LIMIT: '2' }).concurrencyLimit).toBe(2);
  });

  it('accepts every boolean spelling', () => {
    expect(parseServeOptions(['--enabled'], { COMPACTD_ENABLED: 'false' }).enabled).toBe(true);
    expect(parseServeOptions(['--no-enabled'], {}).enabled).toBe(false);
    expect(parseServeOptions(['--enabled=false'], {}).enabled).toBe(false);
    expect(parseServeOptions(['--enabled', 'false', '--port', '1'], {})).toMatchObject({ enabled: false, port: 1 });
    expect(parseServeOptions([], { COMPACTD_ENABLED: 'no' }).enabled).toBe(false);
    expect(parseServeOptions([], { COMPACTD_ENABLED: '1' }).enabled).toBe(true);
  });

  it('parses sizes with binary suffixes', () => {
    const o = parseServeOptions(['--memory-bound-bytes', '64MiB', '--target-part-bytes=2kib', '--max-message-bytes', '1 GiB'], {});
    expect(o.memoryBoundBytes).toBe(64 * 1024 * 1024);
    expect(o.targetPartBytes).toBe(2048);
    expect(o.maxMessageBytes).toBe(1024 ** 3);
  });

  it('takes TiB and says so in the help; refuses decimal units like every command', () => {
    expect(parseServeOptions(['--memory-bound-bytes', '2TiB'], {}).memoryBoundBytes).toBe(2 * 1024 ** 4);
    expect(errorOf(() => parseServeOptions(['--target-part-bytes', '2kb'], {})).message).toBe(
      '--target-part-bytes: expected a size in bytes >= 1 (a whole number of bytes, optionally with KiB, MiB, GiB or TiB (kB, MB, GB are refused)), got "2kb"',
    );
    expect(serveHelp()).toContain('Sizes: a whole number of bytes, optionally with KiB, MiB, GiB or TiB (kB, MB, GB are refused).');
  });

  it('parses any whole size with any unit (property)', () => {
    const units: [string, number][] = [['', 1], ['B', 1], ['KiB', 1024], ['MiB', 1024 ** 2], ['GiB', 1024 ** 3]];
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.constantFrom(...units), (n, [unit, mult]) => {
        expect(parseServeOptions([`--target-part-bytes=${n}${unit}`], {}).targetPartBytes).toBe(n * mult);
      }),
      { numRuns: 100 },
    );
  });

  it('names the flag, the expectation and the value in a one-line error', () => {
    const e = errorOf(() => parseServeOptions(['--queue-size', 'x'], {}));
    expect(e.kind).toBe('invalid');
    expect(e.message).toBe('--queue-size: expected a whole number >= 1, got "x"');
  });

  it('names the environment variable when the bad value came from there', () => {
    const e = errorOf(() => parseServeOptions([], { COMPACTD_QUEUE_SIZE: '0' }));
    expect(e.message).toBe('COMPACTD_QUEUE_SIZE: expected a whole number >= 1, got "0"');
  });

  it.each([
    [['--port', '70000'], '--port'],
    [['--port', '-1'], '--port'],
    [['--metrics-port', '1.5'], '--metrics-port'],
    [['--memory-bound-bytes', '12XB'], '--memory-bound-bytes'],
    [['--memory-bound-bytes', '0'], '--memory-bound-bytes'],
    [['--minimum-timeout-seconds', '0'], '--minimum-timeout-seconds'],
    [['--grace-seconds', '-3'], '--grace-seconds'],
    [['--log-level', 'loud'], '--log-level'],
    [['--compression', 'snappy'], '--compression'],
    [['--enabled=maybe'], '--enabled'],
    [['--blob', 'data'], '--blob'],
    [['--host', ' '], '--host'],
    [['--workers', '0'], '--workers'],
    [['--heuristic-min-updates', '99999999999999999999'], '--heuristic-min-updates'],
  ])('rejects %j with one line naming %s', (argv, name) => {
    const e = errorOf(() => parseServeOptions(argv, {}));
    expect(e.kind).toBe('invalid');
    expect(e.message.startsWith(`${name}: expected `)).toBe(true);
    expect(e.message).toContain(`got ${JSON.stringify(argv.length > 1 ? argv[1] : argv[0].split('=')[1])}`);
    expect(e.message).not.toContain('\n');
  });

  it('rejects unknown flags, missing values, repeats and stray arguments', () => {
    expect(errorOf(() => parseServeOptions(['--queue'], {})).message).toContain('unknown flag --queue');
    expect(errorOf(() => parseServeOptions(['--port'], {})).message).toContain('--port: missing value');
    expect(errorOf(() => parseServeOptions(['--port', '--host', 'x'], {})).message).toContain('--port: missing value');
    expect(errorOf(() => parseServeOptions(['--port=1', '--port=2'], {})).message).toContain('more than once');
    expect(errorOf(() => parseServeOptions(['serve'], {})).message).toContain('unexpected argument "serve"');
    expect(errorOf(() => parseServeOptions(['--no-port'], {})).message).toContain('unknown flag --no-port');
  });

  it('treats an empty environment variable as unset', () => {
    expect(parseServeOptions([], { COMPACTD_QUEUE_SIZE: '' }).queueSize).toBe(20);
  });
});

describe('applyConfigUpdate', () => {
  const base = runtimeConfigOf(parseServeOptions(['--workers', '2'], {}));

  it('changes only the given fields and returns a new frozen object', () => {
    const next = applyConfigUpdate(base, { queueSize: 3, enabled: false, minimumTimeoutSeconds: 0.5 });
    expect(next).toEqual({ ...base, queueSize: 3, enabled: false, minimumTimeoutSeconds: 0.5 });
    expect(Object.isFrozen(next)).toBe(true);
    expect(base.queueSize).toBe(20);
  });

  it('refuses what the command line refuses, naming the proto field', () => {
    expect(errorOf(() => applyConfigUpdate(base, { queueSize: 0 })).message).toBe('queue_size: expected a whole number >= 1, got 0');
    expect(errorOf(() => applyConfigUpdate(base, { concurrencyLimit: 1.5 })).message).toContain('concurrency_limit: expected');
    expect(errorOf(() => applyConfigUpdate(base, { minimumTimeoutSeconds: 0 })).message).toContain('minimum_timeout_seconds: expected');
    expect(errorOf(() => applyConfigUpdate(base, { memoryBoundBytes: Number.NaN })).message).toContain('memory_bound_bytes');
  });

  it('applies nothing when one field is bad', () => {
    expect(() => applyConfigUpdate(base, { queueSize: 4, targetPartBytes: -1 })).toThrow(CompactdError);
    expect(base.queueSize).toBe(20);
  });

  it('holds exactly the ServiceConfig fields', () => {
    expect(Object.keys(base).sort()).toEqual(
      [
        'enabled',
        'queueSize',
        'concurrencyLimit',
        'heuristicMinInputs',
        'heuristicMinParts',
        'heuristicMinUpdates',
        'minimumTimeoutSeconds',
        'memoryBoundBytes',
        'targetPartBytes',
        'stallTimeoutSeconds',
      ].sort(),
    );
  });
});

describe('help and docs', () => {
  it('lists every flag in --help and detects the help flag', () => {
    const help = serveHelp();
    for (const o of OPTIONS) expect(help).toContain(`--${o.flag}`);
    expect(wantsHelp(['--port', '1', '--help'])).toBe(true);
    expect(wantsHelp(['-h'])).toBe(true);
    expect(wantsHelp(['--port', '1'])).toBe(false);
  });

  it('keeps the README configuration table in step with the option table', () => {
    const doc = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(doc).toContain(configurationMarkdown());
  });
});

describe('env', () => {
  it('maps flags to COMPACTD_ names', () => {
    expect(envName('queue-size')).toBe('COMPACTD_QUEUE_SIZE');
    expect(envName('--metrics-port')).toBe('COMPACTD_METRICS_PORT');
    for (const o of OPTIONS) expect(envName(o.flag)).toMatch(/^COMPACTD_[A-Z_]+$/);
  });

  it('reads only COMPACTD_ variables, into a frozen snapshot', () => {
    process.env.COMPACTD_TEST_ONLY = 'x';
    try {
      const env = readEnv();
      expect(env.COMPACTD_TEST_ONLY).toBe('x');
      expect(Object.keys(env).every((k) => k.startsWith('COMPACTD_'))).toBe(true);
      expect(Object.isFrozen(env)).toBe(true);
    } finally {
      delete process.env.COMPACTD_TEST_ONLY;
    }
  });
});
