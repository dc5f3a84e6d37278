/**
 * A store the service cannot use is a configuration fault, not a bug: `serve` refuses to start
 * (one line naming the step, the store and the cause, exit 1) unless --no-store-check, and then a
 * Compact answers FAILED_PRECONDITION (not INTERNAL) with a message that names neither path nor
 * bucket, while the service log names them.
 *
 * Tests run as root, for whom file modes do not stop writes. Two faults that do stop root are used:
 * the service running as `nobody` (setpriv) on a directory owned by root with mode 0755 (a real
 * EACCES), and a store root whose parent is a regular file (ENOTDIR, whoever runs it).
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyS3Error } from '../../src/blob/s3.js';
import { FileBlob } from '../../src/blob/file.js';
import { openBlob } from '../../src/blob/url.js';
import { CompactorClient } from '../../src/client/compactor-client.js';
import { CompactdError } from '../../src/model/errors.js';
import { statusName, toServiceError } from '../../src/service/status.js';
import { failure } from '../helpers/errors.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { servingPorts, spawnServe, type ServeProcess } from '../helpers/serve-process.js';
import { compactRequest, writeInputs } from './harness.js';

const AS_NOBODY = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'];
const hasSetpriv = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;

/** Waits for the child to exit; returns its code and its stderr lines. */
async function exited(child: ServeProcess): Promise<{ code: number | null; lines: string[] }> {
  const { code } = await child.exit;
  return { code, lines: child.stderr().trimEnd().split('\n') };
}

/** An environment without any AWS credential source (no keys, no files, no instance metadata). */
function noAwsCredentials(dir: string): Record<string, string> {
  const env: Record<string, string> = {
    AWS_CONFIG_FILE: path.join(dir, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'no-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  return env;
}

let dir: string;
let s3: S3rverHandle;
const children: ServeProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-store-faults-'));
  // Searchable by `nobody` all the way down; writable by root only.
  await chmod(dir, 0o755);
  s3 = await startS3rver();
});

afterAll(async () => {
  for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

function serve(args: string[], env: Record<string, string> = {}, prefix: string[] = []): ServeProcess {
  const child = spawnServe(['--port', '0', '--metrics-port', '0', '--workers', '1', ...args], env, prefix);
  children.push(child);
  return child;
}

describe('classification of store faults', () => {
  it('a file store whose root runs through a regular file is misconfigured, for root too', async () => {
    await writeFile(path.join(dir, 'a-file'), 'x');
    const blob = new FileBlob(path.join(dir, 'a-file', 'store'));
    const err = await failure(blob.set('s/k', new Uint8Array(4)));
    expect(err.kind).toBe('misconfigured');
    expect(err.message).not.toContain(dir);
    expect(String((err.cause as Error).message)).toContain(path.join(dir, 'a-file'));
  });

  it('a key colliding with another key is still INVALID_ARGUMENT, not a store fault', async () => {
    const blob = new FileBlob(path.join(dir, 'collide'));
    await blob.set('s/k', new Uint8Array(1));
    expect((await failure(blob.set('s/k/deeper', new Uint8Array(1)))).kind).toBe('invalid');
  });

  it('S3 credential, access and bucket faults are misconfigured; the cause names the bucket', () => {
    const cases: [object, RegExp][] = [
      [Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }), /no credentials/],
      [Object.assign(new Error('denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }), /denies the service access/],
      [Object.assign(new Error('bad key'), { name: 'InvalidAccessKeyId', $metadata: { httpStatusCode: 403 } }), /access key/],
      [Object.assign(new Error('no bucket'), { name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } }), /bucket does not exist/],
      [Object.assign(new Error('other'), { name: 'Forbidden', $metadata: { httpStatusCode: 403 } }), /refuses the service/],
    ];
    for (const [raw, re] of cases) {
      const e = classifyS3Error(raw, 'PUT tenant/s/k', undefined, 'the-bucket');
      expect(e.kind).toBe('misconfigured');
      expect(e.message).toMatch(re);
      expect(e.message).not.toContain('the-bucket');
      expect((e.cause as Error).message).toContain('the-bucket');
      expect(statusName(e.kind)).toBe('FAILED_PRECONDITION');
      expect(toServiceError(e).details).toBe(e.message);
    }
    // A request the store cannot parse is still our bug.
    const bug = classifyS3Error(Object.assign(new Error('x'), { name: 'InvalidArgument', $metadata: { httpStatusCode: 400 } }), 'PUT k', undefined, 'b');
    expect(bug.kind).toBe('internal');
  });

  it('a real s3rver: a missing bucket and unknown credentials are misconfigured', async () => {
    const missing = await openBlob({ ...s3.spec, bucket: 'no-such-bucket-here' });
    const wrong = await openBlob({ ...s3.spec, credentials: { accessKeyId: 'WRONG', secretAccessKey: 'WRONG' } });
    try {
      expect((await failure(missing.set('s/k', new Uint8Array(1)))).kind).toBe('misconfigured');
      const e = await failure(wrong.set('s/k', new Uint8Array(1)));
      expect(e.kind).toBe('misconfigured');
      expect(e).toBeInstanceOf(CompactdError);
    } finally {
      await missing.close();
      await wrong.close();
    }
  });
});

describe('serve checks its store at start-up', () => {
  it('passes on a writable store and leaves nothing behind', async () => {
    const store = path.join(dir, 'good');
    const child = serve(['--blob', pathToFileURL(store).href]);
    await servingPorts(child);
    expect(child.lines.some((l) => l.msg === 'store check passed')).toBe(true);
    child.proc.kill('SIGTERM');
    expect((await child.exit).code).toBe(0);
    expect(await readdir(store)).toEqual([]);
  });

  it.runIf(hasSetpriv)('exits 1 with one line when the service may not write its directory (EACCES as nobody)', async () => {
    const store = path.join(dir, 'root-owned');
    await mkdir(store, { mode: 0o755 });
    const child = serve(['--blob', pathToFileURL(store).href], {}, AS_NOBODY);
    const { code, lines } = await exited(child);
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^FAILED_PRECONDITION: store check failed: cannot write to file:\/\/.* key _compactd\/probe\/[0-9a-f-]+: .*EACCES/);
    expect(lines[0]).toContain(store);
    expect(child.lines.some((l) => l.msg === 'server serving')).toBe(false);
  });

  it('exits 1 with one line when the store root runs through a regular file', async () => {
    await writeFile(path.join(dir, 'plain-file'), 'x');
    const child = serve(['--blob', pathToFileURL(path.join(dir, 'plain-file', 'store')).href]);
    const { code, lines } = await exited(child);
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^FAILED_PRECONDITION: store check failed: cannot write to .*root is not a directory/);
    expect(lines[0]).toContain(path.join(dir, 'plain-file'));
  });

  it('exits 1 with one line for a missing bucket, unknown credentials and no credentials at all', async () => {
    const query = `endpoint=${encodeURIComponent(s3.endpoint)}&forcePathStyle=true`;
    const cases: [string, Record<string, string>, RegExp][] = [
      [`s3://S3RVER:S3RVER@no-such-bucket-here/p?${query}`, {}, /NoSuchBucket.*no-such-bucket-here/],
      [`s3://WRONG:WRONG@${s3.bucket}/p?${query}`, {}, new RegExp(`InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied`)],
      [`s3://${s3.bucket}/p?${query}`, noAwsCredentials(dir), /no credentials.*CredentialsProviderError/],
    ];
    for (const [url, env, re] of cases) {
      const child = serve(['--blob', url], env);
      const { code, lines } = await exited(child);
      expect(code, url).toBe(1);
      expect(lines, url).toHaveLength(1);
      expect(lines[0]).toMatch(/^FAILED_PRECONDITION: store check failed: cannot write to s3:\/\//);
      expect(lines[0]).toMatch(re);
      expect(lines[0]).not.toContain('WRONG:WRONG');
    }
  });
});

describe('with --no-store-check, a store fault answers FAILED_PRECONDITION', () => {
  it.runIf(hasSetpriv)('file store the service may not write: Compact fails FAILED_PRECONDITION, the log names the path', async () => {
    const store = path.join(dir, 'read-only-for-nobody');
    await mkdir(store, { mode: 0o755 });
    // The inputs exist (written by root); the service can read them but not write its outputs.
    const { inputs } = await writeInputs(await openBlob(pathToFileURL(store).href), 'shard', 2, 50);
    await chmod(path.join(store, 'shard'), 0o755);
    const child = serve(['--blob', pathToFileURL(store).href, '--no-store-check'], {}, AS_NOBODY);
    const { port } = await servingPorts(child);
    expect(child.lines.some((l) => l.msg === 'store check skipped (--no-store-check)')).toBe(true);
    const client = new CompactorClient({ address: `127.0.0.1:${port}`, retries: 0 });
    try {
      const err = (await client.compact(compactRequest('shard', inputs)).catch((e: unknown) => e)) as CompactdError;
      expect(err).toBeInstanceOf(CompactdError);
      // A client reads the code back; the kind behind it is in the log (checked below).
      expect(statusName(err.kind)).toBe('FAILED_PRECONDITION');
      expect(err.message).toMatch(/file system refuses the service \(EACCES\)/);
      expect(err.message).not.toContain(store);
      const logged = child.lines.find((l) => l.msg === 'compaction failed')!;
      expect(logged).toMatchObject({ kind: 'misconfigured', level: 50 });
      expect(String(logged.cause)).toContain(store);
    } finally {
      client.close();
      child.proc.kill('SIGTERM');
      await child.exit;
    }
  });

  it('S3 with unknown credentials: Compact fails FAILED_PRECONDITION, the log names the bucket', async () => {
    const blob = await openBlob(s3.spec);
    const { inputs } = await writeInputs(blob, 'shard', 2, 50);
    await blob.close();
    const query = `endpoint=${encodeURIComponent(s3.endpoint)}&forcePathStyle=true`;
    const child = serve(['--blob', `s3://WRONG:WRONG@${s3.bucket}?${query}`, '--no-store-check', '--blob-retry-seconds', '1']);
    const { port } = await servingPorts(child);
    const client = new CompactorClient({ address: `127.0.0.1:${port}`, retries: 0 });
    try {
      const err = (await client.compact(compactRequest('shard', inputs)).catch((e: unknown) => e)) as CompactdError;
      expect(err).toBeInstanceOf(CompactdError);
      // A client reads the code back; the kind behind it is in the log (checked below).
      expect(statusName(err.kind)).toBe('FAILED_PRECONDITION');
      expect(err.message).not.toContain(s3.bucket);
      const logged = child.lines.find((l) => l.msg === 'compaction failed')!;
      expect(logged.kind).toBe('misconfigured');
      expect(String(logged.cause)).toContain(s3.bucket);
    } finally {
      client.close();
      child.proc.kill('SIGTERM');
      await child.exit;
    }
  });
});
