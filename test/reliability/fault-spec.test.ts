/**
 * The `--blob-faults` testing hook: its spec syntax, and that it can only be switched on by an
 * explicit command-line flag, never by an environment variable left in a deployment.
 */
import { describe, expect, it } from 'vitest';
import { parseFaultSpec } from '../../src/config/faults.js';
import { parseServeOptions } from '../../src/config/options.js';

describe('--blob-faults', () => {
  it('parses every field', () => {
    expect(parseFaultSpec('errorRate=0.25&latencyMs=5&latencyJitterMs=100&ops=get,set&permanent=true&indeterminate&failKeys=%2Fx%24&seed=9')).toEqual({
      errorRate: 0.25,
      latencyMs: 5,
      latencyJitterMs: 100,
      ops: ['get', 'set'],
      permanent: true,
      indeterminate: true,
      failKeys: '/x$',
      seed: 9,
    });
    expect(parseFaultSpec('')).toMatchObject({ errorRate: 0, latencyMs: 0, ops: ['get', 'set', 'delete', 'head', 'list'], permanent: false });
  });

  it.each([
    ['errorRate=2', 'errorRate must be a number from 0 to 1'],
    ['errorRate=', 'errorRate must be a number'],
    ['latencyMs=-1', 'latencyMs must be a number'],
    ['ops=get,rename', 'ops: unknown operation "rename"'],
    ['permanent=maybe', 'permanent must be true or false'],
    ['failKeys=%5B', 'failKeys is not a regular expression'],
    ['errorRate=0.1&errorRate=0.2', 'errorRate given twice'],
    ['rate=0.1', 'unknown field "rate"'],
  ])('refuses %j', (spec, message) => {
    expect(() => parseFaultSpec(spec)).toThrow(message);
    expect(() => parseServeOptions(['--blob-faults', spec], {})).toThrow(`--blob-faults: bad fault spec: ${message}`);
  });

  it('is off by default and only a flag switches it on, never the environment', () => {
    expect(parseServeOptions([], {}).blobFaults).toBe('');
    expect(parseServeOptions([], { COMPACTD_BLOB_FAULTS: 'errorRate=1' }).blobFaults).toBe('');
    expect(parseServeOptions(['--blob-faults', 'errorRate=1'], {}).blobFaults).toBe('errorRate=1');
  });
});
