/**
 * `compactd serve` as a real process: starts on port 0, logs its ports, serves `compactd demo`
 * and `compactd compact --endpoint`, counts the work on /metrics, and exits 0 on SIGTERM and on
 * SIGINT after a graceful shutdown. Bad options fail at once with one line.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBlob } from '../../src/blob/url.js';
import { compactRequestToJson, formatJson } from '../../src/wire/json.js';
import { run } from '../helpers/cli.js';
import { servingPorts, spawnServe } from '../helpers/serve-process.js';
import { compactRequest, httpGetText, writeInputs } from './harness.js';
import { metricSum } from './prom.js';

let dir: string;
let url: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-serve-'));
  url = pathToFileURL(dir).href;
});

afterAll(() => rm(dir, { recursive: true, force: true }));

describe('compactd serve', () => {
  it('serves demo and compact --endpoint, counts them on /metrics, and exits 0 on SIGTERM', async () => {
    // Options from the environment too: COMPACTD_WORKERS.
    const child = spawnServe(['--port', '0', '--metrics-port', '0', '--blob', url], { COMPACTD_WORKERS: '1' });
    try {
      const { port, metricsPort } = await servingPorts(child);
      expect(child.lines.find((l) => l.msg === 'server serving')!.config).toMatchObject({ concurrencyLimit: 1 });

      const demo = await run(['demo', '--endpoint', `127.0.0.1:${port}`, '--blob', url, '--batches', '8', '--rows', '500']);
      // stderr carries only the demo's progress lines, no error.
      expect(demo.stderr.trimEnd().split('\n').every((l) => /^(writing inputs to |compacting )/.test(l))).toBe(true);
      expect(demo.code).toBe(0);
      expect(demo.stdout).toContain('verified          yes');

      const blob = await openBlob(url);
      const { inputs } = await writeInputs(blob, 'cli', 2, 20);
      await blob.close();
      const json = formatJson(compactRequestToJson(compactRequest('cli', inputs)));
      const viaCli = await run(['compact', '--endpoint', `127.0.0.1:${port}`], json);
      expect(viaCli.stderr).toBe('');
      expect(JSON.parse(viaCli.stdout)).toMatchObject({ outcome: 'COMPACTED' });

      const missing = await run(['compact', '--endpoint', `127.0.0.1:${port}`], json.replace(/"key":\s*"w/, '"key": "x'));
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^NOT_FOUND: .*x/);

      const metrics = (await httpGetText(metricsPort, '/metrics')).body;
      expect(metricSum(metrics, 'compactd_compaction_completed_total')).toBe(2);
      expect(metricSum(metrics, 'compactd_compaction_failed_total')).toBe(1);

      child.proc.kill('SIGTERM');
      expect(await child.exit).toEqual({ code: 0, signal: null });
      expect(child.lines.map((l) => l.state).filter(Boolean)).toEqual(['starting', 'serving', 'draining', 'stopped']);
    } finally {
      child.proc.kill('SIGKILL');
    }
  });

  it('exits 0 on SIGINT', async () => {
    const child = spawnServe(['--port', '0', '--metrics-port', '0', '--blob', url, '--workers', '1']);
    try {
      await servingPorts(child);
      child.proc.kill('SIGINT');
      expect(await child.exit).toEqual({ code: 0, signal: null });
    } finally {
      child.proc.kill('SIGKILL');
    }
  });

  it('refuses a bad option with one usage line and exit 2', async () => {
    const child = spawnServe(['--queue-size', 'x']);
    expect((await child.exit).code).toBe(2);
    expect(child.stderr()).toBe('compactd serve: --queue-size: expected a whole number >= 1, got "x"\n');
  });

  it('prints its options on --help', async () => {
    const r = await run(['serve', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--queue-size');
    expect(r.stdout).toContain('COMPACTD_');
  });
});
