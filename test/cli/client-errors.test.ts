/**
 * What a person sees when a client command cannot reach the service, run as child processes
 * against real servers on port 0: one line naming the address and the cause (connection
 * refused, the metrics port dialled instead of gRPC, a peer that never answers), http:// and
 * https:// endpoints, a zero deadline refused; `loadgen` checks the endpoint before writing,
 * stops after a run of failures saying why, and counts every queue-full answer the service gave.
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBlob } from '../../src/blob/url.js';
import { compactRequestToJson, formatJson } from '../../src/wire/json.js';
import { runChild, type Result } from '../helpers/cli.js';
import { compactRequest, httpGetText, startTestServer, writeInputs, type TestServer } from '../service/harness.js';
import { metricSum } from '../service/prom.js';

let dir: string;
let url: string;
let ts: TestServer;
let request: string;
let closedPort: number;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as import('node:net').AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Exactly one line on stderr, nothing on stdout, exit 1. */
/** The one stderr line of a failure: exit 2 for a usage error (`compactd <command>: ...`), else 1. */
function oneLine(r: Result): string {
  expect(r.code).toBe(r.stderr.startsWith('compactd ') ? 2 : 1);
  expect(r.stdout).toBe('');
  expect(r.stderr.endsWith('\n')).toBe(true);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  return r.stderr.trimEnd();
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-clierr-'));
  url = pathToFileURL(dir).href;
  ts = await startTestServer(url, ['--workers', '1']);
  const blob = await openBlob(url);
  const { inputs } = await writeInputs(blob, 'errs', 2, 20);
  await blob.close();
  request = formatJson(compactRequestToJson(compactRequest('errs', inputs, { force: true })));
  closedPort = await freePort();
});

afterAll(async () => {
  await ts?.server.shutdown();
  await rm(dir, { recursive: true, force: true });
});

// Child processes start slowly on a loaded machine: several start at once here.
describe('client commands facing a wrong endpoint', { timeout: 180_000 }, () => {
  it('name an address nothing listens on, for compact and health', async () => {
    const [compact, health] = await Promise.all([
      runChild(['compact', '--endpoint', `127.0.0.1:${closedPort}`], request),
      runChild(['health', '--endpoint', `127.0.0.1:${closedPort}`]),
    ]);
    const expected = `UNAVAILABLE: 127.0.0.1:${closedPort} is unreachable (connection refused): is compactd serve running there?`;
    expect(oneLine(compact)).toBe(expected);
    expect(oneLine(health)).toBe(expected);
  });

  it('name the metrics port dialled for gRPC, and where gRPC listens', async () => {
    const m = ts.server.metricsPort;
    const [compact, health] = await Promise.all([
      runChild(['compact', '--endpoint', `127.0.0.1:${m}`], request),
      runChild(['health', '--endpoint', `127.0.0.1:${m}`]),
    ]);
    const expected = `UNAVAILABLE: 127.0.0.1:${m} answered HTTP/1.1, not gRPC: is this the metrics port? gRPC listens on 127.0.0.1:${ts.server.port}`;
    expect(oneLine(compact)).toBe(expected);
    expect(oneLine(health)).toBe(expected);
  });

  it('take http://HOST:PORT as plain text and refuse other schemes, paths and missing ports', async () => {
    const [compact, health, ftp, pathy, noPort, tlsClash] = await Promise.all([
      runChild(['compact', '--endpoint', `http://127.0.0.1:${ts.server.port}`], request),
      runChild(['health', '--endpoint', `http://127.0.0.1:${ts.server.port}/`]),
      runChild(['health', '--endpoint', 'ftp://127.0.0.1:1']),
      runChild(['compact', '--endpoint', `http://127.0.0.1:${ts.server.port}/compactd`], request),
      runChild(['health', '--endpoint', '127.0.0.1']),
      runChild(['health', '--endpoint', `http://127.0.0.1:${ts.server.port}`, '--tls']),
    ]);
    expect(compact.stderr).toBe('');
    expect(JSON.parse(compact.stdout)).toMatchObject({ outcome: 'COMPACTED' });
    expect(health).toEqual({ code: 0, stdout: 'SERVING\n', stderr: '' });
    expect(oneLine(ftp)).toBe('compactd health: --endpoint: expected HOST:PORT (or http://HOST:PORT, https://HOST:PORT for TLS), not a ftp:// URL, got "ftp://127.0.0.1:1"');
    expect(oneLine(pathy)).toMatch(/^compactd compact: --endpoint: a gRPC endpoint has no path; expected HOST:PORT, got "http:\/\/127\.0\.0\.1:\d+\/compactd"$/);
    expect(oneLine(noPort)).toBe('compactd health: --endpoint: expected HOST:PORT with a port from 1 to 65535, got "127.0.0.1"');
    // Plain text and TLS at once is a mistake on the command line: a usage error, exit 2.
    expect(tlsClash.code).toBe(2);
    expect(oneLine(tlsClash)).toMatch(/^compactd health: --endpoint http:\/\/127\.0\.0\.1:\d+ says plain text \(http:\/\/\) but --tls asks for TLS; use https:\/\/ or HOST:PORT$/);
  });

  it('take https://HOST:PORT as TLS, and say when the server does not speak it', async () => {
    const r = await runChild(['health', '--endpoint', `https://127.0.0.1:${ts.server.port}`, '--timeout-seconds', '5']);
    expect(r.code).toBe(1);
    // Node adds its own DEP0123 notice for TLS to an IP address; the last line is compactd's.
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe(
      `UNAVAILABLE: 127.0.0.1:${ts.server.port} is unreachable (TLS handshake failed: the server does not speak TLS; connect without --tls, --tls-ca or https://)`,
    );
  });

  it('refuse a zero deadline, and say which address did not answer in time', async () => {
    const sockets = new Set<Socket>();
    const silent: NetServer = createServer((s) => sockets.add(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as import('node:net').AddressInfo).port;
    try {
      const [zero, late, loadgenZero] = await Promise.all([
        runChild(['compact', '--endpoint', `127.0.0.1:${ts.server.port}`, '--deadline-seconds', '0'], request),
        runChild(['compact', '--endpoint', `127.0.0.1:${port}`, '--deadline-seconds', '2'], request),
        runChild(['loadgen', '--endpoint', `127.0.0.1:${ts.server.port}`, '--deadline-seconds', '0']),
      ]);
      expect(oneLine(zero)).toBe('compactd compact: --deadline-seconds: expected a number of seconds > 0, got "0"');
      expect(oneLine(loadgenZero)).toBe('compactd loadgen: --deadline-seconds: expected a number of seconds > 0, got "0"');
      expect(oneLine(late)).toBe(`DEADLINE_EXCEEDED: no answer from 127.0.0.1:${port} within 2 s (no connection was made)`);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});

describe('compactd loadgen', { timeout: 180_000 }, () => {
  it('checks the endpoint before writing anything', async () => {
    const r = await runChild(['loadgen', '--endpoint', `127.0.0.1:${closedPort}`, '--blob', url, '--shard-prefix', 'unreach']);
    expect(oneLine(r)).toBe(`UNAVAILABLE: 127.0.0.1:${closedPort} is unreachable (connection refused): is compactd serve running there?`);
    const blob = await openBlob(url);
    const left: string[] = [];
    for await (const m of blob.list('')) if (m.key.includes('unreach')) left.push(m.key);
    await blob.close();
    expect(left).toEqual([]);
  });

  it('stops after a run of failed requests and prints the error', async () => {
    // Serving (health says so) but refusing every compaction: each request fails.
    const refusing = await startTestServer(url, ['--workers', '1', '--enabled', 'false']);
    try {
      const r = await runChild([
        'loadgen', '--endpoint', refusing.server.address, '--blob', url, '--shards', '2', '--batches', '100000',
        '--updates-per-batch', '20', '--compact-every', '2', '--force', '--shard-prefix', 'refused',
      ]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('stopped early: 10 requests in a row failed; last: unavailable:');
      const last = r.stderr.trimEnd().split('\n').at(-1)!;
      expect(last).toMatch(/^UNAVAILABLE: loadgen: stopped: 10 requests in a row failed; last: unavailable: .*disabled/);
    } finally {
      await refusing.server.shutdown();
    }
  });

  it('counts every queue-full answer, retried ones included, as the service counted its drops', async () => {
    const small = await startTestServer(url, ['--workers', '1', '--queue-size', '1', '--concurrency-limit', '1']);
    try {
      const r = await runChild([
        'loadgen', '--endpoint', small.server.address, '--blob', url, '--shards', '4', '--batches', '8', '--updates-per-batch', '300',
        '--compact-every', '2', '--concurrency', '8', '--force', '--race-fraction', '0', '--seed', '7', '--shard-prefix', 'shedding',
      ]);
      expect(r.stderr.split('\n').filter((l) => /^[A-Z_]+: /.test(l))).toEqual([]);
      expect(r.code).toBe(0);
      const counted = /queue full \(RESOURCE_EXHAUSTED\) answers, retried ones included: (\d+); requests that gave up shed: (\d+)/.exec(r.stdout);
      expect(counted).not.toBeNull();
      const dropped = metricSum((await httpGetText(small.server.metricsPort, '/metrics')).body, 'compactd_compaction_dropped_total');
      expect(dropped).toBeGreaterThan(0);
      expect(Number(counted![1])).toBe(dropped);
      expect(Number(counted![2])).toBeLessThanOrEqual(dropped);
    } finally {
      await small.server.shutdown();
    }
  });
});
