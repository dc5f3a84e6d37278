/**
 * The stack's Prometheus and Grafana dashboard against a live service: `promtool check config`
 * on deploy/prometheus/prometheus.yml, then a real Prometheus (Debian's `prometheus` package)
 * started with that file, its targets rewritten to the loopback ports of a real `compactd serve`
 * child and a short scrape interval. The test drives completions, a skip, queue-full drops,
 * store retries ending in a failure and an authentication refusal, waits for the scrapes, and
 * runs every PromQL expression of deploy/grafana/dashboards/compactd.json through Prometheus's
 * HTTP API: each must parse and return data. A panel that shows nothing on a live service is a
 * defect nobody sees until it matters.
 *
 * Without a `prometheus` binary the test is skipped on a developer machine and FAILS in CI
 * (CI=true), where .ci/run installs it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBlob } from '../../src/blob/url.js';
import { CompactorClient } from '../../src/client/compactor-client.js';
import { CompactdError } from '../../src/model/errors.js';
import type { HollowBatch } from '../../src/model/batch.js';
import { ROOT } from '../helpers/cli.js';
import { servingPorts, spawnServe, type ServeProcess } from '../helpers/serve-process.js';
import { compactRequest, httpGetText, writeInputs } from '../service/harness.js';
import { repoText } from './files.js';

const PROMETHEUS = process.env.PROMETHEUS_BIN ?? 'prometheus';
const PROMTOOL = process.env.PROMTOOL_BIN ?? 'promtool';
const found = (bin: string) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0;
const hasPrometheus = found(PROMETHEUS) && found(PROMTOOL);
const inCi = process.env.CI === 'true';
/** How often the rewritten copy scrapes: fast enough that a test waits seconds, not minutes. */
const SCRAPE_SECONDS = 1;
/** What $__rate_interval stands for here: longer than the whole drive, so every rate sees it. */
const RATE_WINDOW = '5m';
const TOKEN = 'prom-test-token';

interface Panel {
  readonly title?: string;
  readonly type: string;
  readonly targets?: { readonly expr: string }[];
}

/** Every expression of the dashboard, with the panel that shows it. */
function dashboardExpressions(): { panel: string; expr: string }[] {
  const d = JSON.parse(repoText('deploy/grafana/dashboards/compactd.json')) as { panels: Panel[] };
  return d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title ?? '?', expr: t.expr })));
}

/** Grafana's variables as a live dashboard with every replica selected fills them in. */
function substitute(expr: string): string {
  return expr.replace(/\$__rate_interval/g, RATE_WINDOW).replace(/\$instance/g, '.*');
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as import('node:net').AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

interface PromAnswer<T> {
  readonly status: string;
  readonly error?: string;
  readonly data: T;
}

async function promGet<T>(port: number, pathAndQuery: string): Promise<PromAnswer<T>> {
  const r = await httpGetText(port, pathAndQuery);
  return JSON.parse(r.body) as PromAnswer<T>;
}

function query(port: number, expr: string): Promise<PromAnswer<{ result: { metric: Record<string, string>; value: [number, string] }[] }>> {
  return promGet(port, `/api/v1/query?query=${encodeURIComponent(expr)}`);
}

let dir: string;
let serve: ServeProcess | undefined;
let prom: ChildProcess | undefined;
let promLog = '';

afterAll(async () => {
  prom?.kill('SIGTERM');
  serve?.proc.kill('SIGTERM');
  if (serve) await serve.exit;
  if (prom && prom.exitCode === null) await new Promise((resolve) => prom!.once('exit', resolve));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!hasPrometheus && !inCi)(`Prometheus and the Grafana dashboard on a live service${hasPrometheus || inCi ? '' : ' (skipped: no prometheus binary; apt-get install prometheus)'}`, { timeout: 300_000 }, () => {
  beforeAll(() => {
    // In CI a missing binary is a failure, not a silent skip.
    expect(hasPrometheus, `${PROMETHEUS} and ${PROMTOOL} must be installed (apt-get install prometheus)`).toBe(true);
  });

  it('passes promtool check config as shipped', () => {
    const r = spawnSync(PROMTOOL, ['check', 'config', path.join(ROOT, 'deploy/prometheus/prometheus.yml')], { encoding: 'utf8' });
    expect(r.stderr + r.stdout).toMatch(/SUCCESS/);
    expect(r.status).toBe(0);
  });

  it('answers every dashboard expression with data after scraping a live service', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'compactd-prom-'));
    const url = pathToFileURL(path.join(dir, 'store')).href;
    const tokenFile = path.join(dir, 'token');
    await writeFile(tokenFile, `${TOKEN}\n`);
    // One worker, one slot and a queue of one: concurrent requests are dropped. Reads of the
    // shard `flaky` fail until the short retry budget is spent: retries, then a failure.
    serve = spawnServe([
      '--port', '0', '--metrics-port', '0', '--blob', url, '--workers', '1', '--queue-size', '1', '--concurrency-limit', '1',
      '--auth-token-file', tokenFile, '--blob-retry-seconds', '1', '--blob-faults', 'failKeys=^flaky/&ops=get',
    ]);
    const { port, metricsPort } = await servingPorts(serve);

    // The shipped file with only the targets and the interval changed.
    const promPort = await freePort();
    const config = parse(repoText('deploy/prometheus/prometheus.yml')) as {
      global: Record<string, string>;
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    config.global.scrape_interval = `${SCRAPE_SECONDS}s`;
    config.global.evaluation_interval = `${SCRAPE_SECONDS}s`;
    for (const job of config.scrape_configs) {
      for (const sc of job.static_configs) {
        sc.targets = sc.targets.map((t) => (t.startsWith('compactd:') ? `127.0.0.1:${metricsPort}` : t.startsWith('localhost:9090') ? `127.0.0.1:${promPort}` : t));
      }
    }
    expect(config.scrape_configs.map((j) => j.job_name)).toContain('compactd');
    const configFile = path.join(dir, 'prometheus.yml');
    await writeFile(configFile, stringify(config));
    const check = spawnSync(PROMTOOL, ['check', 'config', configFile], { encoding: 'utf8' });
    expect(check.status, check.stderr + check.stdout).toBe(0);

    prom = spawn(PROMETHEUS, [
      `--config.file=${configFile}`, `--storage.tsdb.path=${path.join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    prom.stdout!.setEncoding('utf8').on('data', (c: string) => (promLog += c));
    prom.stderr!.setEncoding('utf8').on('data', (c: string) => (promLog += c));

    // Traffic: completions, a skip, drops, retries then a failure, an authentication refusal.
    const blob = await openBlob(url);
    const shards: HollowBatch[][] = [];
    for (let i = 0; i < 4; i++) shards.push((await writeInputs(blob, `busy${i}`, 4, 3000)).inputs);
    const small = (await writeInputs(blob, 'small', 2, 10)).inputs;
    const flaky = (await writeInputs(blob, 'flaky', 2, 10)).inputs;
    await blob.close();
    const client = new CompactorClient({ address: `127.0.0.1:${port}`, token: TOKEN, retries: 0 });
    const anonymous = new CompactorClient({ address: `127.0.0.1:${port}`, retries: 0 });
    const outcome = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => CompactdError.from(e).kind);
    try {
      const burst = await Promise.all(shards.map((inputs, i) => outcome(client.compact(compactRequest(`busy${i}`, inputs, { force: true })))));
      expect(burst).toContain('ok');
      expect(burst).toContain('exhausted');
      expect(await outcome(client.compact(compactRequest('small', small)))).toBe('ok'); // skipped by the heuristics
      expect(await outcome(client.compact(compactRequest('flaky', flaky, { force: true })))).toBe('unavailable');
      expect(await outcome(anonymous.compact(compactRequest('small', small)))).toBe('unauthenticated');
      // A second round a few scrapes later, so every rate has two samples apart.
      await new Promise((r) => setTimeout(r, 3000 * SCRAPE_SECONDS));
      await Promise.all(shards.map((inputs, i) => outcome(client.compact(compactRequest(`busy${i}`, inputs, { force: true })))));
    } finally {
      client.close();
      anonymous.close();
    }
    const final = (await httpGetText(metricsPort, '/metrics')).body;
    expect(final).toMatch(/^compactd_compaction_dropped_total [1-9]/m);

    // Wait until Prometheus has scraped the final counts, then a few more scrapes.
    const exprs = dashboardExpressions();
    expect(exprs.length).toBeGreaterThan(20);
    const end = Date.now() + 120_000;
    let empty: string[] = [];
    for (;;) {
      empty = [];
      for (const { panel, expr } of exprs) {
        let answer;
        try {
          answer = await query(promPort, substitute(expr));
        } catch (err) {
          empty.push(`${panel}: ${expr}: ${(err as Error).message}`);
          continue;
        }
        if (answer.status !== 'success') {
          // A parse error never heals by waiting.
          throw new Error(`${panel}: ${expr}: ${answer.error ?? answer.status}`);
        }
        if (answer.data.result.length === 0) empty.push(`${panel}: ${expr}`);
      }
      if (empty.length === 0 || Date.now() > end || prom.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(prom.exitCode, promLog).toBeNull();
    expect(empty).toEqual([]);

    // The dashboard's replica variable lists this target.
    const instances = await promGet<string[]>(promPort, `/api/v1/label/instance/values?match[]=${encodeURIComponent('compactd_compaction_requested_total{job="compactd"}')}`);
    expect(instances.data).toEqual([`127.0.0.1:${metricsPort}`]);
    // The early warnings carry what happened, not just a series.
    const value = async (expr: string) => Number((await query(promPort, expr)).data.result[0]?.value[1] ?? 'NaN');
    expect(await value('sum(compactd_blob_retries_total{job="compactd"})')).toBeGreaterThan(0);
    expect(await value('sum(compactd_auth_refused_total{job="compactd", code="UNAUTHENTICATED"})')).toBeGreaterThanOrEqual(1);
    expect(await value('sum(compactd_compaction_dropped_total{job="compactd"})')).toBeGreaterThan(0);
    expect(await value('max(compactd_build_info{job="compactd"})')).toBe(1);
  });
});
