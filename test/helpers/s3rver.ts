/**
 * Starts s3rver (a local S3 server) for tests: 127.0.0.1, a random port, a temp directory, a
 * fresh bucket, no logging. Import it from any suite that needs a real S3 endpoint.
 *
 * s3rver 3.7.1 encrypts ListObjectsV2 continuation tokens with single DES, which OpenSSL 3
 * refuses. Single DES equals 3DES with the key repeated three times, which OpenSSL 3 still
 * offers, so `des` is mapped to `des-ede3-cbc` in this process: tokens stay byte-identical and no
 * `--openssl-legacy-provider` flag is needed. Any other cipher passes through untouched.
 *
 * s3rver also lists keys in its directory-walk order (`a/b/c` before `a-b`), where S3 lists in
 * UTF-8 byte order; its listing is wrapped to sort as S3 does before paging.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { S3BlobSpec } from '../../src/blob/url.js';

const require = createRequire(import.meta.url);

/** s3rver accepts any request signed with these (its default account). */
export const S3RVER_CREDENTIALS = Object.freeze({ accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });

export interface S3rverHandle {
  /** An s3:// blob URL for the bucket, credentials included, e.g. for `openBlob` or `--blob`. */
  readonly url: string;
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly bucket: string;
  /** The same store as `url`, as a spec (credentials in `spec.credentials`). */
  readonly spec: S3BlobSpec;
  /** Environment for a child process that should reach the store through the AWS default chain. */
  readonly env: Readonly<Record<string, string>>;
  /** Where s3rver keeps its files. */
  readonly directory: string;
  /** Stops the server (dropping open connections) and removes its directory. */
  stop(): Promise<void>;
}

export interface StartS3rverOptions {
  /** Bucket to create (default: a random `test-<hex>` name). */
  readonly bucket?: string;
  /** Prefix to put in the returned URL and spec (default none). */
  readonly prefix?: string;
}

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: { closeAllConnections?: () => void };
}
type S3rverCtor = new (opts: Record<string, unknown>) => S3rverInstance;

/** Starts a fresh s3rver; call `stop()` in an afterAll. */
export async function startS3rver(opts: StartS3rverOptions = {}): Promise<S3rverHandle> {
  installDesShim();
  installListOrder();
  const S3rver = require('s3rver') as S3rverCtor;
  const bucket = opts.bucket ?? `test-${randomBytes(6).toString('hex')}`;
  const directory = await mkdtemp(path.join(tmpdir(), 'compactd-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    vhostBuckets: false,
    configureBuckets: [{ name: bucket }],
  });
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (err) {
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  const endpoint = `http://127.0.0.1:${address.port}`;
  const prefix = (opts.prefix ?? '').replace(/^\/+|\/+$/g, '');
  const { accessKeyId, secretAccessKey } = S3RVER_CREDENTIALS;
  const query = `endpoint=${encodeURIComponent(endpoint)}&region=us-east-1&forcePathStyle=true&checksums=when_required`;
  let stopped = false;
  return {
    url: `s3://${accessKeyId}:${secretAccessKey}@${bucket}/${prefix}?${query}`,
    endpoint,
    bucket,
    spec: {
      kind: 's3',
      bucket,
      prefix,
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      checksums: 'when_required',
      credentials: { ...S3RVER_CREDENTIALS },
    },
    env: {
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
      AWS_REGION: 'us-east-1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    directory,
    async stop() {
      if (stopped) return;
      stopped = true;
      // Keep-alive sockets of clients not yet closed would hold close() open indefinitely.
      const closing = server.close();
      server.httpServer?.closeAllConnections?.();
      await closing;
      await rm(directory, { recursive: true, force: true });
    },
  };
}

const SHIM = Symbol.for('compactd.test.desShim');

/** Maps single DES onto 3DES with a tripled key, once per process (see the file comment). */
function installDesShim(): void {
  const crypto = require('node:crypto') as typeof import('node:crypto') & { [SHIM]?: true };
  if (crypto[SHIM]) return;
  const map = (algorithm: string, key: unknown): [string, unknown] => {
    if (typeof algorithm === 'string' && /^des(-cbc)?$/i.test(algorithm) && isBytes(key) && key.length === 8) {
      return ['des-ede3-cbc', Buffer.concat([key, key, key])];
    }
    return [algorithm, key];
  };
  const { createCipheriv, createDecipheriv } = crypto;
  const cipher = (algorithm: string, key: unknown, ...rest: unknown[]) => {
    const [a, k] = map(algorithm, key);
    return (createCipheriv as (...args: unknown[]) => unknown)(a, k, ...rest);
  };
  const decipher = (algorithm: string, key: unknown, ...rest: unknown[]) => {
    const [a, k] = map(algorithm, key);
    return (createDecipheriv as (...args: unknown[]) => unknown)(a, k, ...rest);
  };
  Object.assign(crypto, { createCipheriv: cipher, createDecipheriv: decipher, [SHIM]: true });
}

interface ListResult {
  objects: { key: string }[];
  commonPrefixes: string[];
  isTruncated: boolean;
}
interface ListOptions {
  delimiter?: string;
  startAfter?: string;
  prefix?: string;
  maxKeys?: number;
}
type ListObjects = (this: unknown, bucket: string, options: ListOptions) => Promise<ListResult>;

/** Makes s3rver list (and page) in S3's byte order, once per process. */
function installListOrder(): void {
  const store = require('s3rver/lib/stores/filesystem') as { prototype: { listObjects: ListObjects; [SHIM]?: true } };
  const proto = store.prototype;
  if (proto[SHIM]) return;
  const original = proto.listObjects;
  proto.listObjects = async function (this: unknown, bucket: string, options: ListOptions) {
    // Delimited listings (common prefixes) are left alone: nothing here uses them.
    if (options.delimiter) return original.call(this, bucket, options);
    const all = await original.call(this, bucket, { ...options, startAfter: '', maxKeys: Number.POSITIVE_INFINITY });
    const startAfter = Buffer.from(options.startAfter ?? '');
    const objects = all.objects
      .map((o) => ({ o, k: Buffer.from(o.key) }))
      .filter(({ k }) => Buffer.compare(k, startAfter) > 0)
      .sort((a, b) => Buffer.compare(a.k, b.k))
      .map(({ o }) => o);
    const maxKeys = options.maxKeys ?? Number.POSITIVE_INFINITY;
    return { objects: objects.slice(0, maxKeys), commonPrefixes: all.commonPrefixes, isTruncated: objects.length > maxKeys };
  };
  proto[SHIM] = true;
}

function isBytes(x: unknown): x is Buffer {
  return x instanceof Uint8Array;
}
