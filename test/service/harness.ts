/**
 * What the end-to-end tests share: a real server on loopback port 0 with its log captured, a
 * real gRPC health client, a /metrics scraper, and request builders over a real blob store.
 */
import { request as httpGet } from 'node:http';
import { credentials, loadPackageDefinition, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import type { Blob } from '../../src/blob/blob.js';
import { parseServeOptions } from '../../src/config/options.js';
import type { CompactRequest, HollowBatch } from '../../src/model/batch.js';
import type { Update } from '../../src/model/update.js';
import { createRootLogger } from '../../src/obs/log.js';
import { startServer, type CompactdServer } from '../../src/service/server.js';
import { consolidate, desc1, upd, writeBatch } from '../helpers/batches.js';

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly requestId?: string;
  readonly shard?: string;
  readonly state?: string;
  readonly kind?: string;
  readonly [field: string]: unknown;
}

export interface TestServer {
  readonly server: CompactdServer;
  readonly logs: LogLine[];
}

/** Starts a server on 127.0.0.1 with ports 0 and the given extra flags; its log lines are kept. */
export async function startTestServer(blobUrl: string, flags: string[] = []): Promise<TestServer> {
  const logs: LogLine[] = [];
  const log = createRootLogger({ level: 'debug', destination: { write: (s: string) => void logs.push(JSON.parse(s) as LogLine) } });
  const options = parseServeOptions(['--port', '0', '--metrics-port', '0', '--blob', blobUrl, ...flags], {});
  const server = await startServer(options, { log });
  return { server, logs };
}

/** GET on the metrics port: status, body and the time the answer took. */
export function httpGetText(port: number, path: string): Promise<{ status: number; body: string; ms: number }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpGet({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - start }));
    });
    req.on('error', reject);
    req.end();
  });
}

type HealthClient = Client & {
  Check(req: { service: string }, opts: { deadline: Date }, cb: (err: ServiceError | null, res?: { status: string }) => void): void;
};

/** A grpc.health.v1 client of `address`. */
export function healthClient(address: string): { check(service?: string): Promise<{ status: string; ms: number }>; close(): void } {
  const def = loadSync(healthProtoPath, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const Ctor = (loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: new (...a: unknown[]) => HealthClient } } } }).grpc
    .health.v1.Health;
  const client = new Ctor(address, credentials.createInsecure());
  return {
    check: (service = '') =>
      new Promise((resolve, reject) => {
        const start = performance.now();
        client.Check({ service }, { deadline: new Date(Date.now() + 5000) }, (err, res) =>
          err ? reject(err) : resolve({ status: res!.status, ms: performance.now() - start }),
        );
      }),
    close: () => client.close(),
  };
}

/** The sample rows of batch `i`: `rows` keys, each batch touching every key once. */
export function sampleRows(i: number, rows: number): Update[] {
  return Array.from({ length: rows }, (_, j) => upd(`key-${String(j).padStart(7, '0')}`, `v${j % 3}`, 2 * i + 1, j % (i + 2) === 0 ? -1 : 1));
}

/** Writes `count` consecutive batches ([2i, 2i+2) each) of `rows` rows to `shard`. */
export async function writeInputs(blob: Blob, shard: string, count: number, rows: number): Promise<{ inputs: HollowBatch[]; rows: Update[] }> {
  const inputs: HollowBatch[] = [];
  const all: Update[] = [];
  for (let i = 0; i < count; i++) {
    const r = sampleRows(i, rows);
    all.push(...r);
    inputs.push(await writeBatch(blob, shard, 1, desc1(2 * i, 2 * i + 2, 0), [[consolidate(r, [])]]));
  }
  return { inputs, rows: all };
}

/** A request compacting `inputs` (consecutive from 0) with output since `since`. */
export function compactRequest(shard: string, inputs: HollowBatch[], opts: { since?: number; force?: boolean; requestId?: string } = {}): CompactRequest {
  const upper = inputs.length === 0 ? 0 : Number(inputs[inputs.length - 1].desc.upper[0][0]);
  return {
    shardId: shard,
    desc: desc1(0, upper, opts.since ?? 0),
    inputs,
    force: opts.force ?? true,
    requestId: opts.requestId ?? '',
  };
}

/** Every object key under `prefix`. */
export async function listKeys(blob: Blob, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const m of blob.list(prefix)) out.push(m.key);
  return out;
}

/** Polls `cond` every few ms until it holds or `ms` pass. */
export async function until(cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
