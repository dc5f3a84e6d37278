/**
 * `compactd health`: SERVING from a real server (whole server and named services), and one line
 * plus exit 1 for everything else: a service the server does not know, a server reporting
 * NOT_SERVING, nothing listening, a peer that never answers, a bad flag. Without --endpoint it
 * probes loopback on COMPACTD_PORT, as the container health check relies on.
 */
import { createServer, type Server as NetServer } from 'node:net';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEALTH_SERVICES } from '../../src/service/server.js';
import { expectError, run } from '../helpers/cli.js';
import { startTestServer, type TestServer } from '../service/harness.js';

let dir: string;
let ts: TestServer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-health-'));
  ts = await startTestServer(pathToFileURL(dir).href, ['--workers', '1']);
});

afterAll(async () => {
  await ts?.server.shutdown();
  await rm(dir, { recursive: true, force: true });
});

/** A bare gRPC server answering health checks with `status` for every service. */
async function healthOnly(status: 'SERVING' | 'NOT_SERVING'): Promise<{ address: string; stop(): void }> {
  const server = new Server();
  const health = new HealthImplementation({ '': status, 'compactd.v1.Compactor': status });
  health.addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}

/** A TCP server that accepts connections and never speaks HTTP/2. */
async function silent(): Promise<{ address: string; stop(): void }> {
  const sockets = new Set<import('node:net').Socket>();
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

describe('compactd health', () => {
  it('prints SERVING and exits 0 for the whole server and for each service it registers', async () => {
    for (const service of HEALTH_SERVICES) {
      const r = await run(['health', '--endpoint', ts.server.address, ...(service ? ['--service', service] : [])]);
      expect(r).toEqual({ code: 0, stdout: 'SERVING\n', stderr: '' });
    }
  });

  it('fails with NOT_FOUND for a service the server does not know', async () => {
    expectError(await run(['health', '--endpoint', ts.server.address, '--service', 'no.such.Service']), /^NOT_FOUND: service "no\.such\.Service" at .*does not know/);
  });

  it('fails when the server reports NOT_SERVING', async () => {
    const h = await healthOnly('NOT_SERVING');
    try {
      expectError(await run(['health', '--endpoint', h.address]), /^UNAVAILABLE: 127\.0\.0\.1:\d+ is NOT_SERVING$/);
      expectError(
        await run(['health', '--endpoint', h.address, '--service', 'compactd.v1.Compactor']),
        /^UNAVAILABLE: service "compactd\.v1\.Compactor" at 127\.0\.0\.1:\d+ is NOT_SERVING$/,
      );
    } finally {
      h.stop();
    }
  });

  it('fails with UNAVAILABLE when nothing listens', async () => {
    const h = await healthOnly('SERVING');
    h.stop();
    expectError(await run(['health', '--endpoint', h.address, '--timeout-seconds', '3']), /^UNAVAILABLE: 127\.0\.0\.1:\d+ is unreachable/);
  });

  it('gives up after --timeout-seconds when the peer never answers', async () => {
    const s = await silent();
    try {
      expectError(await run(['health', '--endpoint', s.address, '--timeout-seconds', '0.5']), /^DEADLINE_EXCEEDED: no health answer from 127\.0\.0\.1:\d+ within 0\.5 s$/);
    } finally {
      s.stop();
    }
  });

  it('probes 127.0.0.1 on COMPACTD_PORT when no endpoint is given', async () => {
    const saved = process.env.COMPACTD_PORT;
    process.env.COMPACTD_PORT = String(ts.server.port);
    try {
      expect(await run(['health'])).toEqual({ code: 0, stdout: 'SERVING\n', stderr: '' });
    } finally {
      if (saved === undefined) delete process.env.COMPACTD_PORT;
      else process.env.COMPACTD_PORT = saved;
    }
  });

  const hasOpenssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
  it.skipIf(!hasOpenssl)(`checks a TLS server with --tls-ca, and fails without it${hasOpenssl ? '' : ' (skipped: no openssl binary)'}`, async () => {
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl('req', '-x509', ...ec, '-keyout', 'hc-ca.key', '-out', 'hc-ca.pem', '-days', '2', '-subj', '/CN=hc-ca');
    await writeFile(path.join(dir, 'hc.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    openssl('req', ...ec, '-keyout', 'hc.key', '-out', 'hc.csr', '-subj', '/CN=localhost');
    openssl('x509', '-req', '-in', 'hc.csr', '-CA', 'hc-ca.pem', '-CAkey', 'hc-ca.key', '-CAcreateserial', '-out', 'hc.pem', '-days', '2', '-extfile', 'hc.ext');
    const server = new Server();
    new HealthImplementation({ '': 'SERVING' }).addToServer(server);
    const creds = ServerCredentials.createSsl(null, [
      { private_key: await readFile(path.join(dir, 'hc.key')), cert_chain: await readFile(path.join(dir, 'hc.pem')) },
    ]);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
    try {
      const ok = await run(['health', '--endpoint', `127.0.0.1:${port}`, '--tls-ca', 'hc-ca.pem', '--timeout-seconds', '3'], '', dir);
      expect(ok).toEqual({ code: 0, stdout: 'SERVING\n', stderr: '' });
      expectError(await run(['health', '--endpoint', `127.0.0.1:${port}`, '--timeout-seconds', '2']), /^(UNAVAILABLE|DEADLINE_EXCEEDED): /);
      expectError(await run(['health', '--endpoint', `127.0.0.1:${port}`, '--tls', '--timeout-seconds', '2']), /^(UNAVAILABLE|DEADLINE_EXCEEDED): /);
    } finally {
      server.forceShutdown();
    }
  });

  it('refuses a bad timeout with one line', async () => {
    expectError(await run(['health', '--timeout-seconds', 'soon']), /^compactd health: --timeout-seconds: expected a number of seconds > 0, got "soon"$/);
    expectError(await run(['health', '--timeout-seconds', '0']), /^compactd health: --timeout-seconds/);
  });
});
