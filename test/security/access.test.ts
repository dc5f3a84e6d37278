/**
 * Transport security and access control of the gRPC port, with certificates made at test time by
 * the openssl binary: TLS (plain-text and wrongly-trusting clients fail), mutual TLS (clients
 * without a certificate, or with one from another CA, fail), bearer tokens for Compactor
 * (UNAUTHENTICATED without the right one), a separate admin token for Admin (PERMISSION_DENIED
 * for the ordinary token), health without any token, the CLI's client flags, and no secret in
 * any log line.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { credentials, loadPackageDefinition, Metadata, status, type ChannelCredentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Blob } from '../../src/blob/blob.js';
import { openBlob } from '../../src/blob/url.js';
import { CompactorClient, type CompactorClientOptions } from '../../src/client/compactor-client.js';
import { checkHealth, type HealthCheckOptions } from '../../src/client/health.js';
import type { HollowBatch } from '../../src/model/batch.js';
import { CompactdError } from '../../src/model/errors.js';
import type { ProtoGrpcType } from '../../src/gen/compactd.js';
import { compactRequestToJson, formatJson } from '../../src/wire/json.js';
import { loadCompactdPackage } from '../../src/wire/load.js';
import { run } from '../helpers/cli.js';
import { compactRequest, httpGetText, startTestServer, writeInputs, type TestServer } from '../service/harness.js';
import { metricSum } from '../service/prom.js';

let dir: string;
let url: string;
let blob: Blob;
let inputs: HollowBatch[];
const files: Record<string, string> = {};
const pem: Record<string, Buffer> = {};

const TOKEN = 'compactor-token-5d1b0e6c8f2a4c7e9b3d';
const ADMIN_TOKEN = 'admin-token-0a9e8d7c6b5a4f3e2d1c0b9a';
const WRONG_TOKEN = 'wrong-token-77f1e2d3c4b5a6978812';

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA, and a leaf certificate signed by it for `cn` with the given extensions. */
async function makeCertificates(): Promise<void> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'rogue-ca']) {
    openssl('req', '-x509', ...ec, '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '2', '-subj', `/CN=${ca}`);
  }
  await writeFile(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await writeFile(path.join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  const leaf = (name: string, ca: string, ext: string) => {
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', ext);
  };
  leaf('server', 'ca', 'server.ext');
  leaf('client', 'ca', 'client.ext');
  leaf('rogue-client', 'rogue-ca', 'client.ext');
  for (const n of ['ca', 'rogue-ca', 'server', 'client', 'rogue-client']) {
    files[`${n}.pem`] = path.join(dir, `${n}.pem`);
    files[`${n}.key`] = path.join(dir, `${n}.key`);
    pem[`${n}.pem`] = await readFile(files[`${n}.pem`]);
    pem[`${n}.key`] = await readFile(files[`${n}.key`]);
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-security-'));
  url = pathToFileURL(path.join(dir, 'store')).href;
  blob = await openBlob(url);
  inputs = (await writeInputs(blob, 'sec', 2, 20)).inputs;
  await makeCertificates();
  files.token = path.join(dir, 'token');
  files.admin = path.join(dir, 'admin-token');
  files.wrong = path.join(dir, 'wrong-token');
  await writeFile(files.token, `${TOKEN}\n`);
  await writeFile(files.admin, `${ADMIN_TOKEN}\n`);
  await writeFile(files.wrong, WRONG_TOKEN);
});

afterAll(async () => {
  await blob?.close();
  await rm(dir, { recursive: true, force: true });
});

async function outcome<T>(p: Promise<T>): Promise<T | CompactdError> {
  return p.then(
    (v) => v,
    (e: unknown) => {
      expect(e).toBeInstanceOf(CompactdError);
      return e as CompactdError;
    },
  );
}

const kindOf = (x: unknown) => (x instanceof CompactdError ? x.kind : 'ok');

/** One Compact call with a fresh client of the given options. */
async function compactWith(t: TestServer, opts: Omit<CompactorClientOptions, 'address'>): Promise<string> {
  const c = new CompactorClient({ address: t.server.address, retries: 0, ...opts });
  try {
    const r = await outcome(c.compact(compactRequest('sec', inputs), { deadlineMs: 5000 }));
    if (!(r instanceof CompactdError)) await c.deleteParts('sec', r.output!.runs.flatMap((x) => x.parts.map((p) => (p as { key: string }).key)));
    return kindOf(r);
  } finally {
    c.close();
  }
}

async function adminWith(t: TestServer, opts: Omit<CompactorClientOptions, 'address'>): Promise<string> {
  const c = new CompactorClient({ address: t.server.address, retries: 0, ...opts });
  try {
    return kindOf(await outcome(c.getConfig({ deadlineMs: 5000 })));
  } finally {
    c.close();
  }
}

type HealthStub = Client & { Check(req: { service: string }, opts: { deadline: Date }, cb: (err: ServiceError | null, res?: { status: string }) => void): void };

/** Health check with the given channel credentials and no call metadata at all. */
async function healthWith(t: TestServer, creds: ChannelCredentials): Promise<string> {
  const def = loadSync(healthProtoPath, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const Ctor = (loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: new (...a: unknown[]) => HealthStub } } } }).grpc.health.v1.Health;
  const c = new Ctor(t.server.address, creds);
  try {
    return await new Promise<string>((resolve) =>
      c.Check({ service: '' }, { deadline: new Date(Date.now() + 5000) }, (err, res) => resolve(err ? `error ${err.code}` : res!.status)),
    );
  } finally {
    c.close();
  }
}

/** The hand-written health client (node:http2) against `address`: the status, or the error's kind and message. */
async function handHealth(address: string, tls?: HealthCheckOptions['tls']): Promise<string> {
  return checkHealth(address, { timeoutMs: 5000, ...(tls ? { tls } : {}) }).then(
    (s) => s,
    (e: unknown) => {
      expect(e).toBeInstanceOf(CompactdError);
      return `${(e as CompactdError).kind}: ${(e as CompactdError).message}`;
    },
  );
}

/** A DeleteParts call (of nothing) with exactly this authorization header; resolves to its status code. */
async function rawCompactorCall(t: TestServer, authorization: string): Promise<status> {
  const proto = loadPackageDefinition(loadCompactdPackage().packageDefinition) as unknown as ProtoGrpcType;
  const c = new proto.compactd.v1.Compactor(t.server.address, credentials.createInsecure());
  const md = new Metadata();
  md.set('authorization', authorization);
  try {
    return await new Promise<status>((resolve) =>
      c.DeleteParts({ shard_id: 'sec', keys: [] }, md, (err: ServiceError | null) => resolve(err ? err.code : status.OK)),
    );
  } finally {
    c.close();
  }
}

async function withServer(flags: string[], f: (t: TestServer) => Promise<void>): Promise<void> {
  const t = await startTestServer(url, ['--workers', '1', ...flags]);
  try {
    await f(t);
  } finally {
    await t.server.shutdown(0);
  }
}

describe('TLS', () => {
  it('serves TLS to clients that trust its CA, and nothing to plain-text or wrongly-trusting clients', async () => {
    await withServer(['--tls-cert', files['server.pem'], '--tls-key', files['server.key']], async (t) => {
      expect(t.logs.find((l) => l.msg === 'access control')).toMatchObject({ tls: 'tls', auth: false });
      expect(await compactWith(t, { tls: { ca: pem['ca.pem'] } })).toBe('ok');
      expect(await compactWith(t, {})).toBe('unavailable');
      expect(await compactWith(t, { tls: { ca: pem['rogue-ca.pem'] } })).toBe('unavailable');
      expect(await healthWith(t, credentials.createSsl(pem['ca.pem']))).toBe('SERVING');
      // The hand-written health client: the certificate names both 127.0.0.1 and localhost.
      expect(await handHealth(t.server.address, { ca: pem['ca.pem'] })).toBe('SERVING');
      expect(await handHealth(`localhost:${t.server.port}`, { ca: pem['ca.pem'] })).toBe('SERVING');
      expect(await handHealth(t.server.address, { ca: pem['rogue-ca.pem'] })).toMatch(/^unavailable: .* is unreachable \(TLS handshake failed: the server certificate is not trusted; pass the CA that signed it with --tls-ca FILE\)$/);
      expect(await handHealth(t.server.address)).toMatch(/^unavailable: .* does not speak gRPC over plain-text HTTP\/2: if the server uses TLS, add --tls or --tls-ca FILE$/);
      expect(await run(['health', '--endpoint', t.server.address, '--tls-ca', files['ca.pem']])).toEqual({ code: 0, stdout: 'SERVING\n', stderr: '' });

      // The CLI reaches it with --tls-ca.
      const json = formatJson(compactRequestToJson(compactRequest('sec', inputs)));
      const ok = await run(['compact', '--endpoint', t.server.address, '--tls-ca', files['ca.pem']], json);
      expect(ok.stderr).toBe('');
      expect(JSON.parse(ok.stdout)).toMatchObject({ outcome: 'COMPACTED' });
      const plain = await run(['compact', '--endpoint', t.server.address, '--deadline-seconds', '5'], json);
      expect(plain.code).toBe(1);
      expect(plain.stderr).toMatch(/^UNAVAILABLE: /);
    });
  });

  it('with --tls-client-ca demands a client certificate from that CA (mutual TLS)', async () => {
    await withServer(['--tls-cert', files['server.pem'], '--tls-key', files['server.key'], '--tls-client-ca', files['ca.pem']], async (t) => {
      expect(t.logs.find((l) => l.msg === 'access control')).toMatchObject({ tls: 'mutual' });
      expect(await compactWith(t, { tls: { ca: pem['ca.pem'], cert: pem['client.pem'], key: pem['client.key'] } })).toBe('ok');
      expect(await compactWith(t, { tls: { ca: pem['ca.pem'] } })).toBe('unavailable');
      expect(await compactWith(t, { tls: { ca: pem['ca.pem'], cert: pem['rogue-client.pem'], key: pem['rogue-client.key'] } })).toBe('unavailable');
      expect(await healthWith(t, credentials.createSsl(pem['ca.pem'], pem['client.key'], pem['client.pem']))).toBe('SERVING');
      expect(await handHealth(t.server.address, { ca: pem['ca.pem'], cert: pem['client.pem'], key: pem['client.key'] })).toBe('SERVING');
      expect(await handHealth(t.server.address, { ca: pem['ca.pem'] })).toMatch(/^unavailable: .* \(TLS handshake failed: the server wants a client certificate; add --tls-cert and --tls-key\)$/);
      expect(await handHealth(t.server.address, { ca: pem['ca.pem'], cert: pem['rogue-client.pem'], key: pem['rogue-client.key'] })).toMatch(/^unavailable: /);
      expect(
        await run(['health', '--endpoint', t.server.address, '--tls-ca', files['ca.pem'], '--tls-cert', files['client.pem'], '--tls-key', files['client.key']]),
      ).toEqual({ code: 0, stdout: 'SERVING\n', stderr: '' });

      const json = formatJson(compactRequestToJson(compactRequest('sec', inputs)));
      const ok = await run(
        ['compact', '--endpoint', t.server.address, '--tls-ca', files['ca.pem'], '--tls-cert', files['client.pem'], '--tls-key', files['client.key']],
        json,
      );
      expect(ok.stderr).toBe('');
      expect(JSON.parse(ok.stdout)).toMatchObject({ outcome: 'COMPACTED' });
    });
  });

  it('refuses half a TLS configuration and unreadable files at start', async () => {
    await expect(startTestServer(url, ['--tls-cert', files['server.pem']])).rejects.toThrow('--tls-cert and --tls-key');
    await expect(startTestServer(url, ['--tls-client-ca', files['ca.pem']])).rejects.toThrow('--tls-client-ca');
    await expect(startTestServer(url, ['--tls-cert', files['server.pem'], '--tls-key', path.join(dir, 'nope')])).rejects.toThrow(/--tls-key: cannot read/);
    await expect(startTestServer(url, ['--tls-cert', files['server.key'], '--tls-key', files['server.pem']])).rejects.toThrow('not a usable PEM certificate and key');
    await expect(startTestServer(url, ['--tls-cert', files['server.pem'], '--tls-key', files['client.key']])).rejects.toThrow('not a usable PEM certificate and key');
  });
});

describe('bearer tokens', () => {
  it('Compactor needs the token, Admin the admin token, health none; refusals are counted', async () => {
    await withServer(['--auth-token-file', files.token, '--admin-token-file', files.admin], async (t) => {
      expect(await compactWith(t, {})).toBe('unauthenticated');
      expect(await compactWith(t, { token: WRONG_TOKEN })).toBe('unauthenticated');
      expect(await compactWith(t, { token: TOKEN.slice(0, -1) })).toBe('unauthenticated');
      expect(await compactWith(t, { token: `${TOKEN}x`.repeat(3) })).toBe('unauthenticated');
      expect(await compactWith(t, { token: TOKEN })).toBe('ok');
      expect(await compactWith(t, { token: ADMIN_TOKEN })).toBe('ok');

      expect(await adminWith(t, {})).toBe('unauthenticated');
      expect(await adminWith(t, { token: WRONG_TOKEN })).toBe('unauthenticated');
      expect(await adminWith(t, { token: TOKEN })).toBe('permission');
      expect(await adminWith(t, { token: ADMIN_TOKEN })).toBe('ok');

      expect(await healthWith(t, credentials.createInsecure())).toBe('SERVING');
      expect((await httpGetText(t.server.metricsPort, '/healthz')).status).toBe(200);

      // A header that is not a bearer token is no token at all, even carrying the right secret.
      expect(await rawCompactorCall(t, `Basic ${TOKEN}`)).toBe(status.UNAUTHENTICATED);
      expect(await rawCompactorCall(t, `bearer ${TOKEN}`)).toBe(status.OK);

      const m = (await httpGetText(t.server.metricsPort, '/metrics')).body;
      expect(metricSum(m, 'compactd_auth_refused_total{service="compactor",code="UNAUTHENTICATED"}')).toBe(5);
      expect(metricSum(m, 'compactd_auth_refused_total{service="admin",code="UNAUTHENTICATED"}')).toBe(2);
      expect(metricSum(m, 'compactd_auth_refused_total{service="admin",code="PERMISSION_DENIED"}')).toBe(1);
      expect(t.logs.filter((l) => l.msg === 'call refused')).toHaveLength(8);

      // The CLI sends the token from --token-file; the wrong file is refused.
      const json = formatJson(compactRequestToJson(compactRequest('sec', inputs)));
      const ok = await run(['compact', '--endpoint', t.server.address, '--token-file', files.token], json);
      expect(ok.stderr).toBe('');
      expect(JSON.parse(ok.stdout)).toMatchObject({ outcome: 'COMPACTED' });
      const bad = await run(['compact', '--endpoint', t.server.address, '--token-file', files.wrong], json);
      expect(bad.stderr).toBe('UNAUTHENTICATED: invalid bearer token\n');

      // No log line carries a secret, whether it was accepted or refused.
      const text = JSON.stringify(t.logs);
      expect(t.logs.length).toBeGreaterThan(10);
      for (const secret of [TOKEN, ADMIN_TOKEN, WRONG_TOKEN]) {
        expect(text).not.toContain(secret);
        // Nor a recognisable piece of one.
        expect(text).not.toContain(secret.slice(-12));
      }
    });
  });

  it('without an admin token, Admin is guarded by the ordinary token', async () => {
    await withServer(['--auth-token-file', files.token], async (t) => {
      expect(await adminWith(t, {})).toBe('unauthenticated');
      expect(await adminWith(t, { token: TOKEN })).toBe('ok');
      expect(await compactWith(t, { token: TOKEN })).toBe('ok');
    });
  });

  it('with only an admin token, Compactor stays open and Admin is guarded', async () => {
    await withServer(['--admin-token-file', files.admin], async (t) => {
      expect(await compactWith(t, {})).toBe('ok');
      expect(await adminWith(t, {})).toBe('unauthenticated');
      expect(await adminWith(t, { token: ADMIN_TOKEN })).toBe('ok');
    });
  });

  it('refuses an empty or missing token file at start, naming the flag but not the content', async () => {
    const empty = path.join(dir, 'empty-token');
    await writeFile(empty, '\n');
    await expect(startTestServer(url, ['--auth-token-file', empty])).rejects.toThrow('--auth-token-file: the file is empty');
    await expect(startTestServer(url, ['--admin-token-file', path.join(dir, 'missing')])).rejects.toThrow(/--admin-token-file: cannot read/);
  });

  it('TLS and tokens together', async () => {
    await withServer(['--tls-cert', files['server.pem'], '--tls-key', files['server.key'], '--auth-token-file', files.token], async (t) => {
      expect(await compactWith(t, { tls: { ca: pem['ca.pem'] } })).toBe('unauthenticated');
      expect(await compactWith(t, { tls: { ca: pem['ca.pem'] }, token: TOKEN })).toBe('ok');
    });
  });
});
