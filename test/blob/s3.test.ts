/**
 * S3Blob against real sockets: nothing listening, connections reset mid-request, servers answering
 * 5xx/4xx, and s3rver behind a recording proxy (multipart sizing, abort on failure, checksum
 * headers). Failures must come out classified: retryable 'unavailable' with the right
 * determinacy, or 'internal' without retries.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PARTS, MIN_PART_BYTES, S3Blob, type S3BlobOptions } from '../../src/blob/s3.js';
import { S3RVER_CREDENTIALS, startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { failure } from '../helpers/errors.js';

const FAST = { initialBackoffMs: 1, maxBackoffMs: 5, maxElapsedMs: 400 };

function blobAt(endpoint: string, extra: Partial<S3BlobOptions> = {}): S3Blob {
  return new S3Blob({
    bucket: 'bucket',
    endpoint,
    credentials: S3RVER_CREDENTIALS,
    retry: FAST,
    connectionTimeoutMs: 1000,
    socketTimeoutMs: 2000,
    ...extra,
  });
}

function listen(server: net.Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`));
  });
}

function close(server: net.Server): Promise<void> {
  (server as http.Server).closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** An HTTP server answering every request with `status` and an S3-style XML error. */
async function answering(status: number, code: string): Promise<{ endpoint: string; requests: () => number; stop: () => Promise<void> }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    n++;
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'application/xml' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>test</Message></Error>`);
    });
  });
  const endpoint = await listen(server);
  return { endpoint, requests: () => n, stop: () => close(server) };
}

describe('S3Blob failure classification', () => {
  it('a port with nothing listening: unavailable, determinate, after bounded retries', async () => {
    const probe = net.createServer();
    const endpoint = await listen(probe);
    await close(probe); // the port is now free: connections are refused
    let retries = 0;
    const blob = blobAt(endpoint, { onRetry: () => retries++ });
    try {
      for (const op of [() => blob.set('s/k', new Uint8Array(3)), () => blob.get('s/k'), () => blob.head('s/k')]) {
        retries = 0;
        const err = await failure(op());
        expect(err.kind).toBe('unavailable');
        expect(err.determinate).toBe(true);
        expect(err.message).toMatch(/gave up after \d+ attempts.*ECONNREFUSED/);
        expect(retries).toBeGreaterThanOrEqual(2);
      }
    } finally {
      await blob.close();
    }
  });

  it('a connection reset after the request was sent: unavailable, indeterminate', async () => {
    let connections = 0;
    const server = net.createServer((socket) => {
      connections++;
      socket.once('data', () => socket.resetAndDestroy());
    });
    const endpoint = await listen(server);
    const blob = blobAt(endpoint);
    try {
      const err = await failure(blob.set('s/k', new Uint8Array(1000)));
      expect(err.kind).toBe('unavailable');
      expect(err.determinate).toBe(false);
      expect(connections).toBeGreaterThan(1);
    } finally {
      await blob.close();
      await close(server);
    }
  });

  it('5xx answers are retried and reported indeterminate', async () => {
    const srv = await answering(500, 'InternalError');
    const blob = blobAt(srv.endpoint);
    try {
      const err = await failure(blob.set('s/k', new Uint8Array(10)));
      expect(err.kind).toBe('unavailable');
      expect(err.determinate).toBe(false);
      expect(srv.requests()).toBeGreaterThan(1);
    } finally {
      await blob.close();
      await srv.stop();
    }
  });

  it('4xx answers (but 408/429 and refusals) are not retried: internal, determinate', async () => {
    const srv = await answering(400, 'InvalidRequest');
    const blob = blobAt(srv.endpoint);
    try {
      const err = await failure(blob.set('s/k', new Uint8Array(10)));
      expect(err.kind).toBe('internal');
      expect(err.determinate).toBe(true);
      expect(err.message).toMatch(/400/);
      expect(srv.requests()).toBe(1);
    } finally {
      await blob.close();
      await srv.stop();
    }
  });

  it('403 is a store refusing the service: misconfigured, determinate, not retried', async () => {
    const srv = await answering(403, 'AccessDenied');
    const blob = blobAt(srv.endpoint);
    try {
      const err = await failure(blob.set('s/k', new Uint8Array(10)));
      expect(err.kind).toBe('misconfigured');
      expect(err.determinate).toBe(true);
      expect(err.message).toMatch(/403/);
      expect(srv.requests()).toBe(1);
    } finally {
      await blob.close();
      await srv.stop();
    }
  });

  it('429 is retried and determinate', async () => {
    const srv = await answering(429, 'SlowDown');
    const blob = blobAt(srv.endpoint);
    try {
      const err = await failure(blob.get('s/k'));
      expect(err.kind).toBe('unavailable');
      expect(err.determinate).toBe(true);
      expect(srv.requests()).toBeGreaterThan(1);
    } finally {
      await blob.close();
      await srv.stop();
    }
  });

  it('an abort stops the retries with cancelled', async () => {
    const srv = await answering(503, 'SlowDown');
    const blob = blobAt(srv.endpoint, { retry: { initialBackoffMs: 50, maxBackoffMs: 50, maxElapsedMs: 600_000 } });
    const ctl = new AbortController();
    try {
      const p = blob.get('s/k', { signal: ctl.signal });
      setTimeout(() => ctl.abort(), 120);
      const err = await failure(p);
      expect(err.kind).toBe('cancelled');
      // A request already on the wire when the abort came may still reach the server: let it
      // land, then no further attempt may follow (retries come every 50 ms when they do).
      await new Promise((r) => setTimeout(r, 30));
      const seen = srv.requests();
      expect(seen).toBeGreaterThanOrEqual(1);
      await new Promise((r) => setTimeout(r, 150));
      expect(srv.requests()).toBe(seen);
    } finally {
      await blob.close();
      await srv.stop();
    }
  });
});

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  status: number;
}

/**
 * A proxy in front of s3rver that records every request and may answer one itself (`intercept`
 * returns a status to fail it with, or undefined to forward it).
 */
async function recordingProxy(target: string) {
  const seen: Seen[] = [];
  let intercept: (req: http.IncomingMessage) => number | undefined = () => undefined;
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const fail = intercept(req);
    const entry: Seen = { method: req.method!, url: req.url!, headers: req.headers, status: fail ?? 0 };
    seen.push(entry);
    if (fail !== undefined) {
      req.resume();
      req.on('end', () => {
        res.writeHead(fail, { 'content-type': 'application/xml' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>Injected</Code><Message>proxy</Message></Error>`);
      });
      return;
    }
    const out = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
      (up) => {
        entry.status = up.statusCode ?? 0;
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  const endpoint = await listen(server);
  return {
    endpoint,
    seen,
    setIntercept(f: typeof intercept) {
      intercept = f;
    },
    async stop() {
      agent.destroy();
      await close(server);
    },
  };
}

const MiB = 1024 * 1024;

describe('S3Blob against s3rver', () => {
  let s3: S3rverHandle;
  let proxy: Awaited<ReturnType<typeof recordingProxy>>;

  beforeAll(async () => {
    s3 = await startS3rver();
    proxy = await recordingProxy(s3.endpoint);
  });

  afterAll(async () => {
    await proxy?.stop();
    await s3?.stop();
  });

  const smallParts = (extra: Partial<S3BlobOptions> = {}) =>
    new S3Blob({
      ...s3.spec,
      endpoint: proxy.endpoint,
      prefix: 'mp',
      multipartThresholdBytes: MiB,
      minPartBytes: MiB,
      retry: FAST,
      ...extra,
    });

  it('sizes parts as max(8 MiB, ceil(len / 10000))', () => {
    const blob = new S3Blob({ bucket: 'bucket', endpoint: 'http://127.0.0.1:1' });
    expect(blob.partSize(20 * MiB)).toBe(MIN_PART_BYTES);
    expect(blob.partSize(80_000 * MiB)).toBe(MIN_PART_BYTES);
    const huge = 200 * 1024 * MiB;
    expect(blob.partSize(huge)).toBe(Math.ceil(huge / MAX_PARTS));
    expect(Math.ceil(huge / blob.partSize(huge))).toBeLessThanOrEqual(MAX_PARTS);
    void blob.close();
  });

  it('uploads above the threshold in parts and reads the object back whole', async () => {
    const blob = smallParts();
    proxy.seen.length = 0;
    const data = new Uint8Array(5 * MiB + 12345).map((_, i) => (i * 31) & 255);
    try {
      await blob.set('s/k', data);
      const parts = proxy.seen.filter((s) => s.method === 'PUT' && /partNumber=/.test(s.url));
      expect(parts.map((p) => Number(p.headers['content-length']))).toEqual([MiB, MiB, MiB, MiB, MiB, 12345]);
      expect(proxy.seen.filter((s) => s.method === 'POST').length).toBe(2); // create + complete
      const got = await blob.get('s/k');
      expect(Buffer.from(got!).equals(Buffer.from(data))).toBe(true);
      // At or below the threshold: one plain PUT.
      proxy.seen.length = 0;
      await blob.set('s/small', data.subarray(0, MiB));
      expect(proxy.seen.map((s) => s.method)).toEqual(['PUT']);
    } finally {
      await blob.close();
    }
  });

  it('retries a failed part alone and completes the upload', async () => {
    const blob = smallParts();
    let failed = 0;
    proxy.setIntercept((req) => (/partNumber=2&/.test(req.url!) && failed++ === 0 ? 500 : undefined));
    proxy.seen.length = 0;
    try {
      const data = new Uint8Array(3 * MiB).fill(9);
      await blob.set('s/retry', data);
      const part2 = proxy.seen.filter((s) => /partNumber=2&/.test(s.url));
      expect(part2.map((s) => s.status)).toEqual([500, 200]);
      expect((await blob.head('s/retry'))?.size).toBe(data.length);
    } finally {
      proxy.setIntercept(() => undefined);
      await blob.close();
    }
  });

  it('aborts the upload when a part fails for good, leaving nothing visible', async () => {
    const blob = smallParts();
    proxy.setIntercept((req) => (/partNumber=3&/.test(req.url!) ? 403 : undefined));
    proxy.seen.length = 0;
    try {
      const err = await failure(blob.set('s/doomed', new Uint8Array(4 * MiB)));
      expect(err.kind).toBe('misconfigured');
      expect(err.determinate).toBe(true);
      const aborts = proxy.seen.filter((s) => s.method === 'DELETE' && /uploadId=/.test(s.url));
      expect(aborts.length).toBe(1);
      expect(proxy.seen.some((s) => s.method === 'POST' && /uploadId=/.test(s.url))).toBe(false);
      expect(await blob.get('s/doomed')).toBeUndefined();
    } finally {
      proxy.setIntercept(() => undefined);
      await blob.close();
    }
  });

  it('sends no flexible checksums by default and CRC32 with when_supported', async () => {
    const checksumHeaders = (s: Seen) => Object.keys(s.headers).filter((h) => h.startsWith('x-amz-checksum-') || h === 'x-amz-sdk-checksum-algorithm');
    const plain = smallParts();
    const supported = smallParts({ checksums: 'when_supported' });
    try {
      proxy.seen.length = 0;
      await plain.set('s/c1', new Uint8Array(100).fill(1));
      expect(checksumHeaders(proxy.seen[0])).toEqual([]);
      // Only the request side is inspected: s3rver would store a CRC32-trailer body garbled.
      proxy.setIntercept((req) => (req.method === 'PUT' ? 200 : undefined));
      proxy.seen.length = 0;
      await supported.set('s/c2', new Uint8Array(100).fill(2)).catch(() => undefined);
      expect(proxy.seen.length).toBeGreaterThan(0);
      expect(checksumHeaders(proxy.seen[0]).length).toBeGreaterThan(0);
    } finally {
      proxy.setIntercept(() => undefined);
      await plain.close();
      await supported.close();
    }
  });

  it('a PUT given as chunks streams them with their SHA-256 signed; a retry after a 5xx sends the whole body again', async () => {
    const blob = smallParts();
    const whole = new Uint8Array(300_000).map((_, i) => (i * 7) & 255);
    const chunks = [whole.subarray(0, 10), new Uint8Array(0), whole.subarray(10, 200_001), whole.subarray(200_001)];
    let failed = 0;
    proxy.setIntercept((req) => (req.method === 'PUT' && failed++ === 0 ? 500 : undefined));
    proxy.seen.length = 0;
    try {
      await blob.set('s/chunks-retry', chunks);
      const puts = proxy.seen.filter((s) => s.method === 'PUT');
      expect(puts.map((p) => p.status)).toEqual([500, 200]);
      const sha = createHash('sha256').update(whole).digest('hex');
      for (const p of puts) {
        expect(p.headers['x-amz-content-sha256']).toBe(sha);
        expect(Number(p.headers['content-length'])).toBe(whole.length);
        expect(p.headers.authorization).toContain('x-amz-content-sha256');
      }
      proxy.setIntercept(() => undefined);
      expect(Buffer.from((await blob.get('s/chunks-retry'))!).equals(Buffer.from(whole))).toBe(true);
    } finally {
      proxy.setIntercept(() => undefined);
      await blob.close();
    }
  });

  it('uploads chunks in parts cut across chunk bounds, each part signed with its own SHA-256, a failed part resent whole', async () => {
    const blob = smallParts();
    const whole = new Uint8Array(3 * MiB + 777).map((_, i) => (i * 13 + 5) & 255);
    const cuts = [0, 100, MiB - 1, MiB + 1, 2 * MiB + 500_000, whole.length];
    const chunks = cuts.slice(1).map((end, i) => whole.subarray(cuts[i], end));
    let failed = 0;
    proxy.setIntercept((req) => (/partNumber=2&/.test(req.url!) && failed++ === 0 ? 500 : undefined));
    proxy.seen.length = 0;
    try {
      await blob.set('s/chunks-mp', chunks);
      const parts = proxy.seen.filter((s) => s.method === 'PUT' && /partNumber=/.test(s.url));
      expect(parts.filter((s) => /partNumber=2&/.test(s.url)).map((s) => s.status)).toEqual([500, 200]);
      for (const p of parts) {
        const n = Number(/partNumber=(\d+)/.exec(p.url)![1]);
        const range = whole.subarray((n - 1) * MiB, Math.min(whole.length, n * MiB));
        expect(Number(p.headers['content-length'])).toBe(range.length);
        expect(p.headers['x-amz-content-sha256']).toBe(createHash('sha256').update(range).digest('hex'));
      }
      proxy.setIntercept(() => undefined);
      expect(Buffer.from((await blob.get('s/chunks-mp'))!).equals(Buffer.from(whole))).toBe(true);
    } finally {
      proxy.setIntercept(() => undefined);
      await blob.close();
    }
  });

  it('with when_supported, chunks go with a CRC32 trailer, not a fixed payload hash', async () => {
    const blob = smallParts({ checksums: 'when_supported' });
    try {
      // Only the request side is inspected: s3rver would store a CRC32-trailer body garbled.
      proxy.setIntercept((req) => (req.method === 'PUT' ? 200 : undefined));
      proxy.seen.length = 0;
      await blob.set('s/chunks-crc', [new Uint8Array(100).fill(1), new Uint8Array(50).fill(2)]).catch(() => undefined);
      const put = proxy.seen.find((s) => s.method === 'PUT')!;
      expect(put.headers['x-amz-content-sha256']).toBe('STREAMING-UNSIGNED-PAYLOAD-TRAILER');
      expect(put.headers['x-amz-trailer']).toBe('x-amz-checksum-crc32');
      expect(put.headers['x-amz-decoded-content-length']).toBe('150');
    } finally {
      proxy.setIntercept(() => undefined);
      await blob.close();
    }
  });

  it('a missing bucket is a configuration error on get, not a missing key', async () => {
    const blob = new S3Blob({ ...s3.spec, bucket: 'no-such-bucket', retry: FAST });
    try {
      const err = await failure(blob.get('s/k'));
      expect(err.kind).toBe('misconfigured');
      expect(err.message).toMatch(/NoSuchBucket/);
    } finally {
      await blob.close();
    }
  });

  it('keeps objects under its prefix and strips it from listed keys', async () => {
    const a = new S3Blob({ ...s3.spec, prefix: 'tenant-a' });
    const b = new S3Blob({ ...s3.spec, prefix: 'tenant-a/sub' });
    const root = new S3Blob({ ...s3.spec });
    try {
      await a.set('s/k', new Uint8Array([1]));
      await b.set('s/k', new Uint8Array([2]));
      expect(Array.from((await a.get('s/k'))!)).toEqual([1]);
      expect(Array.from((await b.get('s/k'))!)).toEqual([2]);
      const keysA: string[] = [];
      for await (const m of a.list('s/')) keysA.push(m.key);
      expect(keysA).toEqual(['s/k']);
      expect((await root.head('tenant-a/sub/s/k'))?.size).toBe(1);
    } finally {
      await Promise.all([a.close(), b.close(), root.close()]);
    }
  });

  it('sends If-None-Match: * for ifAbsent and If-Match: <etag> for ifMatch, and reads 412 as a failed condition', async () => {
    const blob = smallParts();
    try {
      proxy.seen.length = 0;
      const v1 = await blob.setIf('s/cond/rec', new Uint8Array([1, 2, 3]), { ifAbsent: true });
      expect(v1).toMatch(/^"[0-9a-f]+"$/);
      const put1 = proxy.seen.find((r) => r.method === 'PUT')!;
      expect(put1.headers['if-none-match']).toBe('*');
      expect(put1.headers['if-match']).toBeUndefined();
      expect((await blob.getVersioned('s/cond/rec'))?.version).toBe(v1);

      proxy.seen.length = 0;
      const v2 = await blob.setIf('s/cond/rec', new Uint8Array([4]), { ifMatch: v1! });
      expect(v2).toBeDefined();
      const put2 = proxy.seen.find((r) => r.method === 'PUT')!;
      expect(put2.headers['if-match']).toBe(v1);
      expect(put2.headers['if-none-match']).toBeUndefined();

      // s3rver does not enforce conditions: the store's 412 is played by the proxy.
      proxy.setIntercept((req) => (req.method === 'PUT' ? 412 : undefined));
      proxy.seen.length = 0;
      expect(await blob.setIf('s/cond/rec', new Uint8Array([5]), { ifMatch: '"stale"' })).toBeUndefined();
      expect(proxy.seen).toHaveLength(1);
      expect(await blob.setIf('s/cond/new', new Uint8Array([5]), { ifAbsent: true })).toBeUndefined();
      proxy.setIntercept((req) => (req.method === 'PUT' ? 409 : undefined));
      proxy.seen.length = 0;
      expect((await failure(blob.setIf('s/cond/rec', new Uint8Array([6]), { ifMatch: v2! }))).kind).toBe('unavailable');
      expect(proxy.seen.length).toBeGreaterThan(1);
    } finally {
      proxy.setIntercept(() => undefined);
      await blob.close();
    }
  });

  it('copies with a server-side CopyObject: no object bytes in the request', async () => {
    const blob = smallParts();
    try {
      await blob.set('s/c1/p1', new Uint8Array(5000).fill(7));
      proxy.seen.length = 0;
      expect(await blob.copy('s/c1/p1', 's/c2/p2')).toBe(true);
      expect(proxy.seen).toHaveLength(1);
      expect(proxy.seen[0].method).toBe('PUT');
      expect(proxy.seen[0].headers['x-amz-copy-source']).toBe(`${s3.bucket}/mp/s/c1/p1`);
      expect(Number(proxy.seen[0].headers['content-length'] ?? 0)).toBeLessThan(100);
      expect((await blob.get('s/c2/p2'))?.length).toBe(5000);
    } finally {
      await blob.close();
    }
  });
});
