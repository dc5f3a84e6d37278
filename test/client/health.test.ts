/**
 * The hand-written health client (node:http2, no grpc-js): its bytes against what grpc-js and
 * grpc-health-check encode and decode, and its calls against the real server over loopback:
 * SERVING, NOT_SERVING while draining, an unknown service, nothing listening, a peer that never
 * answers, the metrics port dialled by mistake. TLS is in test/security/access.test.ts.
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Server, ServerCredentials, status as grpcStatus, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { HealthImplementation, service as healthService } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBlob } from '../../src/blob/url.js';
import { checkHealth } from '../../src/client/health.js';
import {
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  frameMessage,
  grpcTimeout,
  unframeMessage,
  type HealthStatus,
} from '../../src/client/health-wire.js';
import { CompactorClient } from '../../src/client/compactor-client.js';
import { CompactdError } from '../../src/model/errors.js';
import { HEALTH_SERVICES } from '../../src/service/server.js';
import { compactRequest, startTestServer, writeInputs, type TestServer } from '../service/harness.js';

const STATUSES: readonly HealthStatus[] = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

async function failure(p: Promise<unknown>): Promise<CompactdError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(CompactdError);
  return e as CompactdError;
}

describe('health wire format', () => {
  it('encodes requests grpc-health-check decodes: the whole server, names, long and non-ASCII names', () => {
    for (const service of ['', 'compactd.v1.Compactor', 'x'.repeat(300), 'dienst.größe.v1']) {
      expect(healthService.Check.requestDeserialize(encodeHealthCheckRequest(service))).toEqual({ service });
    }
  });

  it('decodes every status grpc-health-check encodes', () => {
    for (const status of STATUSES) {
      expect(decodeHealthCheckResponse(healthService.Check.responseSerialize({ status }))).toBe(status);
    }
  });

  it('skips unknown fields, reads an unknown status as UNKNOWN, and refuses truncated bytes', () => {
    // field 2 (varint 5), field 3 (bytes "ab"), field 4 (fixed32), then status = NOT_SERVING.
    expect(decodeHealthCheckResponse(Uint8Array.from([0x10, 5, 0x1a, 2, 0x61, 0x62, 0x25, 1, 2, 3, 4, 0x08, 2]))).toBe('NOT_SERVING');
    expect(decodeHealthCheckResponse(Uint8Array.from([0x08, 9]))).toBe('UNKNOWN');
    expect(() => decodeHealthCheckResponse(Uint8Array.from([0x08]))).toThrow('truncated');
    expect(() => decodeHealthCheckResponse(Uint8Array.from([0x1a, 5, 0x61]))).toThrow('truncated');
  });

  it('frames one message with the 5-byte prefix, and takes exactly one uncompressed message back', () => {
    const framed = frameMessage(Uint8Array.from([0x08, 1]));
    expect([...framed]).toEqual([0, 0, 0, 0, 2, 0x08, 1]);
    expect([...unframeMessage(framed)]).toEqual([0x08, 1]);
    expect([...unframeMessage(frameMessage(new Uint8Array(0)))]).toEqual([]);
    expect(() => unframeMessage(Uint8Array.from([1, 0, 0, 0, 2, 0x08, 1]))).toThrow('compressed');
    expect(() => unframeMessage(framed.subarray(0, 6))).toThrow('does not hold one message');
    expect(() => unframeMessage(new Uint8Array(0))).toThrow('no response message');
  });

  it('writes grpc-timeout in whole milliseconds rounded up, at most 8 digits', () => {
    expect(grpcTimeout(5000)).toBe('5000m');
    expect(grpcTimeout(0.2)).toBe('1m');
    expect(grpcTimeout(-3)).toBe('1m');
    expect(grpcTimeout(200_000_000)).toBe('200000S');
  });
});

let dir: string;
let ts: TestServer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-health-client-'));
  ts = await startTestServer(pathToFileURL(dir).href, ['--workers', '1']);
});

afterAll(async () => {
  await ts?.server.shutdown();
  await rm(dir, { recursive: true, force: true });
});

/** A TCP server that accepts connections and never says anything. */
async function silent(): Promise<{ address: string; stop(): void }> {
  const sockets = new Set<Socket>();
  const server: NetServer = createServer((s) => sockets.add(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as import('node:net').AddressInfo).port;
  return {
    address: `127.0.0.1:${port}`,
    stop: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe('checkHealth against the real server', { timeout: 60_000 }, () => {
  it('reads SERVING for the whole server and each service it registers', async () => {
    for (const service of HEALTH_SERVICES) expect(await checkHealth(ts.server.address, { service })).toBe('SERVING');
    expect(await checkHealth(`http://${ts.server.address}`)).toBe('SERVING');
    expect(await checkHealth(`dns:///${ts.server.address}`)).toBe('SERVING');
    expect(await checkHealth(`ipv4:${ts.server.address}`)).toBe('SERVING');
  });

  it('dials a Unix socket target (unix:PATH), as grpc-js serves it', async () => {
    const socketDir = await mkdtemp(path.join(tmpdir(), 'compactd-health-sock-'));
    const server = new Server();
    new HealthImplementation({ '': 'NOT_SERVING' }).addToServer(server);
    await new Promise<number>((resolve, reject) =>
      server.bindAsync(`unix:${socketDir}/h.sock`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    try {
      expect(await checkHealth(`unix:${socketDir}/h.sock`)).toBe('NOT_SERVING');
      expect(await checkHealth(`unix://${socketDir}/h.sock`)).toBe('NOT_SERVING');
    } finally {
      server.forceShutdown();
      await rm(socketDir, { recursive: true, force: true });
    }
  });

  it('reads a status grpc-js sent in trailers-only form: an unknown service is NOT_FOUND, worded as before', async () => {
    const e = await failure(checkHealth(ts.server.address, { service: 'no.such.Service' }));
    expect(e.kind).toBe('not_found');
    expect(e.message).toBe(`service "no.such.Service" at ${ts.server.address}: the server does not know this service`);
  });

  it('reads the status code and message of any other failure the server sends (percent-decoded)', async () => {
    const server = new Server();
    server.addService(healthService as never, {
      Check: (_call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => cb({ code: grpcStatus.PERMISSION_DENIED, details: 'nicht erlaubt: 100% sicher' }),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    try {
      const e = await failure(checkHealth(`127.0.0.1:${port}`));
      expect(e.kind).toBe('permission');
      expect(e.message).toBe('nicht erlaubt: 100% sicher');
    } finally {
      server.forceShutdown();
    }
  });

  it('reads NOT_SERVING from a server that is draining', async () => {
    const storeDir = await mkdtemp(path.join(tmpdir(), 'compactd-health-drain-'));
    const url = pathToFileURL(storeDir).href;
    const blob = await openBlob(url);
    const { inputs } = await writeInputs(blob, 'drain', 2, 50);
    await blob.close();
    // Reads held back so that the compaction is still running while the server drains.
    const t = await startTestServer(url, ['--workers', '1', '--blob-faults', 'latencyMs=1500&ops=get']);
    const client = new CompactorClient({ address: t.server.address, retries: 0 });
    try {
      expect(await checkHealth(t.server.address)).toBe('SERVING');
      const inFlight = client.compact(compactRequest('drain', inputs, { requestId: 'drain-h', force: true })).catch((e: unknown) => e);
      while (!t.logs.some((l) => l.requestId === 'drain-h' && l.msg === 'compaction started')) await new Promise((r) => setTimeout(r, 20));
      const stopped = t.server.shutdown(60);
      expect(t.server.state).toBe('draining');
      expect(await checkHealth(t.server.address)).toBe('NOT_SERVING');
      expect(await checkHealth(t.server.address, { service: 'compactd.v1.Compactor' })).toBe('NOT_SERVING');
      t.server.abortPending();
      await inFlight;
      await stopped;
    } finally {
      client.close();
      await t.server.shutdown(0);
      await rm(storeDir, { recursive: true, force: true });
    }
  });

  it('says an address nothing listens on is unreachable', async () => {
    const s = await silent();
    s.stop();
    const e = await failure(checkHealth(s.address, { timeoutMs: 3000 }));
    expect(e.kind).toBe('unavailable');
    expect(e.message).toBe(`${s.address} is unreachable (connection refused): is compactd serve running there?`);
  });

  it('gives up after the timeout when the peer never answers', async () => {
    const s = await silent();
    try {
      const started = Date.now();
      const e = await failure(checkHealth(s.address, { timeoutMs: 400 }));
      expect(e.kind).toBe('deadline');
      expect(e.message).toBe(`no health answer from ${s.address} within 0.4 s`);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      s.stop();
    }
  });

  it('names the metrics port dialled by mistake, and where gRPC listens', async () => {
    const metrics = `127.0.0.1:${ts.server.metricsPort}`;
    const e = await failure(checkHealth(metrics));
    expect(e.kind).toBe('unavailable');
    expect(e.message).toBe(`${metrics} answered HTTP/1.1, not gRPC: is this the metrics port? gRPC listens on 127.0.0.1:${ts.server.port}`);
  });

  it('says a plain-text server does not speak TLS when https:// is asked for', async () => {
    const e = await failure(checkHealth(`https://${ts.server.address}`, { timeoutMs: 5000 }));
    expect(e.kind).toBe('unavailable');
    expect(e.message).toBe(`${ts.server.address} is unreachable (TLS handshake failed: the server does not speak TLS; connect without --tls, --tls-ca or https://)`);
  });

  it('refuses what it cannot do before dialling: TLS on http://, half a client certificate', async () => {
    expect((await failure(checkHealth(`http://${ts.server.address}`, { tls: {} }))).kind).toBe('invalid');
    expect((await failure(checkHealth(ts.server.address, { tls: { cert: new Uint8Array(1) } }))).message).toMatch(/certificate needs its key/);
  });
});
