/**
 * The local stack's files against the service they describe: docker-compose.yml, the Prometheus
 * config and the Grafana provisioning and dashboard must name ports, flags, environment variables,
 * commands and metric names that compactd really has. Everything is taken from the code (the
 * option table, the metrics registry, the command table), so a rename there fails here.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Metric } from 'prom-client';
import { parseBlobUrl, type S3BlobSpec } from '../../src/blob/url.js';
import { parseFlags } from '../../src/cli/args.js';
import { LOADGEN_FLAGS } from '../../src/cli/loadgen.js';
import { COMMANDS } from '../../src/cli/main.js';
import { envName } from '../../src/config/env.js';
import { OPTIONS, parseServeOptions, type ServeOptions } from '../../src/config/options.js';
import { createMetrics, type Metrics } from '../../src/obs/metrics.js';
import { ROOT } from '../helpers/cli.js';
import { httpGetText, startTestServer, type TestServer } from '../service/harness.js';
import { labelMatchers, loadYaml, repoText, selectedMetrics } from './files.js';

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string } | string;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number | boolean | null>;
  ports?: (string | { target: number; published?: number })[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] | string };
  profiles?: string[];
  stop_grace_period?: string;
}
interface Compose {
  services: Record<string, ComposeService>;
}
interface Panel {
  type: string;
  id: number;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: { query: { query: string } | string; datasource?: { uid: string } }[] };
}

const KNOWN_ENV = new Set(OPTIONS.map((o) => envName(o.flag)));
const COMMAND_NAMES = new Set(COMMANDS.map((c) => c.name));

const compose = loadYaml<Compose>('docker-compose.yml', { interpolate: true });
const svc = (name: string): ComposeService => {
  const s = compose.services[name];
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
};
const asList = (v: string[] | string | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : v.split(/\s+/));
const envOf = (s: ComposeService): Record<string, string> =>
  Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v === null ? '' : String(v)]));
const containerPorts = (s: ComposeService): number[] =>
  (s.ports ?? []).map((p) => (typeof p === 'string' ? Number(p.split(':').at(-1)!.split('/')[0]) : p.target));
/** `host/path:container/path[:ro]` volume strings of a service as [host, container]. */
const binds = (s: ComposeService): [string, string][] =>
  (s.volumes ?? []).filter((v) => v.startsWith('./')).map((v) => v.split(':').slice(0, 2) as [string, string]);
/** The value of `--name=value` or `--name value` in an argument list. */
const flagValue = (args: readonly string[], name: string): string | undefined => {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name) return args[i + 1];
    if (args[i].startsWith(`${name}=`)) return args[i].slice(name.length + 1);
  }
  return undefined;
};
const portOfAddress = (addr: string): number => Number(addr.split(':').at(-1));

/** compactd's options as the compose file starts it: command flags plus environment. */
function composeServeOptions(): ServeOptions {
  const s = svc('compactd');
  const args = asList(s.command);
  expect(args[0]).toBe('serve');
  return parseServeOptions(args.slice(1), envOf(s));
}

async function metricName(m: Metric): Promise<string> {
  return (await m.get()).name;
}

let metrics: Metrics;
/** name -> type for every series family compactd exports (process metrics included). */
let registered: Map<string, string>;

beforeAll(async () => {
  metrics = createMetrics();
  registered = new Map((await metrics.registry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]));
});

describe('docker-compose.yml', () => {
  it('has the services of the local stack, compactd built from the Dockerfile', () => {
    for (const name of ['minio', 'minio-init', 'compactd', 'prometheus', 'grafana']) expect(compose.services).toHaveProperty(name);
    const build = svc('compactd').build;
    const context = typeof build === 'string' ? build : build!.context;
    const dockerfile = typeof build === 'string' || !build?.dockerfile ? 'Dockerfile' : build.dockerfile;
    expect(existsSync(path.join(ROOT, context, dockerfile))).toBe(true);
  });

  it('starts compactd with flags and COMPACTD_* variables the service accepts, reachable from other containers', () => {
    const env = envOf(svc('compactd'));
    const unknown = Object.keys(env).filter((k) => k.startsWith('COMPACTD_') && !KNOWN_ENV.has(k));
    expect(unknown).toEqual([]);
    const opts = composeServeOptions();
    expect(['0.0.0.0', '::']).toContain(opts.host);
    expect(containerPorts(svc('compactd'))).toEqual(expect.arrayContaining([opts.port, opts.metricsPort]));
    // Compose's default stop timeout (10 s) would cut the drain short.
    const stop = /^(\d+)s$/.exec(String(svc('compactd').stop_grace_period))?.[1];
    expect(Number(stop)).toBeGreaterThan(opts.graceSeconds);
  });

  it('points compactd at the MinIO bucket the init service creates, with credentials from the environment', () => {
    const opts = composeServeOptions();
    const spec = parseBlobUrl(opts.blob) as S3BlobSpec;
    expect(spec.kind).toBe('s3');
    expect(spec.credentials).toBeUndefined();
    const endpoint = new URL(spec.endpoint!);
    expect(endpoint.hostname).toBe('minio');
    expect(compose.services).toHaveProperty(endpoint.hostname);
    const minio = svc('minio');
    expect(Number(endpoint.port)).toBe(portOfAddress(flagValue(asList(minio.command), '--address') ?? ':9000'));
    expect(spec.forcePathStyle).toBe(true);

    const init = [...asList(svc('minio-init').entrypoint), ...asList(svc('minio-init').command)].join(' ');
    expect(init).toContain(`http://${endpoint.host}`);
    expect(init).toMatch(new RegExp(`mc mb (--ignore-existing )?local/${spec.bucket}(\\s|$)`));

    const env = envOf(svc('compactd'));
    const minioEnv = envOf(minio);
    expect(env.AWS_ACCESS_KEY_ID).toBe(minioEnv.MINIO_ROOT_USER);
    expect(env.AWS_SECRET_ACCESS_KEY).toBe(minioEnv.MINIO_ROOT_PASSWORD);
    expect(env.AWS_ACCESS_KEY_ID).not.toBe('');
  });

  it('orders start-up: MinIO healthy, bucket created, then compactd', () => {
    expect(svc('minio').healthcheck).toBeDefined();
    expect(svc('minio-init').depends_on).toMatchObject({ minio: { condition: 'service_healthy' } });
    expect(svc('compactd').depends_on).toMatchObject({ 'minio-init': { condition: 'service_completed_successfully' } });
  });

  it('runs the optional load generator with flags it has, against compactd and its store', () => {
    const lg = svc('loadgen');
    const args = asList(lg.command);
    expect(COMMAND_NAMES.has(args[0])).toBe(true);
    expect(args[0]).toBe('loadgen');
    const flags = parseFlags(args.slice(1), LOADGEN_FLAGS, 'loadgen').values;
    const opts = composeServeOptions();
    expect(flags.get('endpoint')).toBe(`compactd:${opts.port}`);
    expect(flags.get('blob')).toBe(opts.blob);
    expect(envOf(lg).AWS_ACCESS_KEY_ID).toBe(envOf(svc('compactd')).AWS_ACCESS_KEY_ID);
    // Built like compactd: an image that exists only locally is never pulled.
    expect(lg.build).toEqual(svc('compactd').build);
    expect(lg.image).toBe(svc('compactd').image);
  });

  const bin = spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0;
  it.skipIf(!bin)(`is accepted by docker-compose config -q${bin ? '' : ' (skipped: no docker-compose binary on PATH; .ci/run installs it)'}`, () => {
    for (const profile of [[], ['--profile', 'loadgen']]) {
      // Throws (non-zero exit) with docker-compose's message on stderr when the file is invalid.
      execFileSync('docker-compose', [...profile, 'config', '-q'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    }
  });
});

interface PromConfig {
  scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
}

describe('Prometheus config', () => {
  const prom = svc('prometheus');
  const configPath = flagValue(asList(prom.command), '--config.file') ?? '/etc/prometheus/prometheus.yml';
  const hostFile = binds(prom).find(([, c]) => c === configPath)?.[0];
  const config = hostFile ? loadYaml<PromConfig>(hostFile) : undefined;
  const job = config?.scrape_configs.find((j) => j.static_configs.some((s) => s.targets.some((t) => t.startsWith('compactd:'))));

  it('is mounted where Prometheus reads it and scrapes compactd on its metrics port', () => {
    expect(hostFile).toBe('./deploy/prometheus/prometheus.yml');
    expect(job).toBeDefined();
    const opts = composeServeOptions();
    expect(job!.static_configs.flatMap((s) => s.targets)).toContain(`compactd:${opts.metricsPort}`);
  });

  describe('against a running server', () => {
    let ts: TestServer;
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'compactd-deploy-'));
      ts = await startTestServer(pathToFileURL(dir).href, ['--workers', '1']);
    });
    afterAll(async () => {
      await ts?.server.shutdown();
      await rm(dir, { recursive: true, force: true });
    });

    it("scrapes a path that serves compactd's metrics", async () => {
      const res = await httpGetText(ts.server.metricsPort, job!.metrics_path ?? '/metrics');
      expect(res.status).toBe(200);
      expect(res.body).toContain(await metricName(metrics.requested));
    });
  });
});

describe('Grafana provisioning and dashboard', () => {
  const grafana = svc('grafana');
  const provisioning = binds(grafana).find(([, c]) => c === '/etc/grafana/provisioning')?.[0];
  const datasources = loadYaml<{ datasources: { uid: string; type: string; url: string }[] }>(
    `${provisioning}/datasources/prometheus.yml`,
  ).datasources;
  const providers = loadYaml<{ providers: { type: string; options: { path: string } }[] }>(`${provisioning}/dashboards/compactd.yml`).providers;
  const dashboardDir = binds(grafana).find(([, c]) => c === providers[0]?.options.path)?.[0];
  const dashboard = JSON.parse(repoText(`${dashboardDir}/compactd.json`)) as Dashboard;
  const exprs = [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ...dashboard.templating.list.map((v) => (typeof v.query === 'string' ? v.query : v.query.query)),
  ];
  const promJob = () =>
    loadYaml<PromConfig>('deploy/prometheus/prometheus.yml').scrape_configs.find((j) =>
      j.static_configs.some((s) => s.targets.some((t) => t.startsWith('compactd:'))),
    )!.job_name;

  it('provisions the Prometheus of the stack as a datasource, on the port Prometheus listens on', () => {
    expect(provisioning).toBe('./deploy/grafana/provisioning');
    const ds = datasources.find((d) => d.type === 'prometheus')!;
    const url = new URL(ds.url);
    expect(compose.services).toHaveProperty(url.hostname);
    const listen = flagValue(asList(svc(url.hostname).command), '--web.listen-address') ?? ':9090';
    expect(Number(url.port)).toBe(portOfAddress(listen));
    expect(containerPorts(svc(url.hostname))).toContain(Number(url.port));
  });

  it('loads deploy/grafana/dashboards/compactd.json through a file provider', () => {
    expect(dashboardDir).toBe('./deploy/grafana/dashboards');
    expect(providers[0].type).toBe('file');
    expect(envOf(grafana).GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH).toBe(`${providers[0].options.path}/compactd.json`);
  });

  it('queries only the provisioned datasource, with unique panel ids', () => {
    const uid = datasources.find((d) => d.type === 'prometheus')!.uid;
    for (const p of dashboard.panels) {
      if (p.type === 'row') continue;
      expect(p.datasource?.uid, p.title).toBe(uid);
      for (const t of p.targets ?? []) expect(t.datasource?.uid ?? uid, p.title).toBe(uid);
    }
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('selects only series compactd exports, in the Prometheus job that scrapes it', () => {
    const job = promJob();
    const problems: string[] = [];
    for (const expr of exprs) {
      const names = selectedMetrics(expr);
      if (names.length === 0) problems.push(`no metric in ${expr}`);
      for (const name of names) {
        const base = name.replace(/_(bucket|sum|count)$/, '');
        const ok =
          // A histogram has no series under its own name, only _bucket, _sum and _count.
          (registered.has(name) && registered.get(name) !== 'histogram') ||
          (name !== base && registered.get(base) === 'histogram') ||
          // `up` is written by Prometheus itself for every target it scrapes.
          name === 'up';
        if (!ok) problems.push(`${name} in ${expr}`);
      }
      for (const j of labelMatchers(expr, 'job')) if (j !== job) problems.push(`job="${j}" in ${expr}`);
    }
    expect(problems).toEqual([]);
  });

  it('shows request outcomes, queue depth, in-flight, p50/p99 durations, bytes and updates in/out and blob errors', async () => {
    const selected = new Set(exprs.flatMap(selectedMetrics));
    const m = metrics;
    const wanted = [
      m.requested, m.completed, m.skipped, m.dropped, m.disabled, m.failed, m.timedOut, m.cancelled,
      m.queueDepth, m.inFlight, m.inputBytes, m.outputBytes, m.inputUpdates, m.outputUpdates, m.blobErrors,
    ];
    const missing: string[] = [];
    for (const metric of wanted) {
      const name = await metricName(metric);
      if (!selected.has(name)) missing.push(name);
    }
    expect(missing).toEqual([]);
    const histogram = await metricName(m.compactionSeconds);
    for (const q of ['0.5', '0.99']) {
      expect(exprs.some((e) => e.includes(`histogram_quantile(${q},`) && e.includes(`${histogram}_bucket`))).toBe(true);
    }
  });
});
