/**
 * The `--blob` URL (docs/contract.md, "Store URLs"): parsed once into a BlobSpec, then opened.
 *
 *   file:///abs/dir            file://./rel/dir (relative to the working directory)   ?fsync=false
 *   mem://                     a fresh in-process store;  mem://name  one shared store per name
 *   s3://bucket/prefix?endpoint=http://host:port&region=us-east-1&forcePathStyle=true&checksums=when_required
 *
 * S3 credentials come from the standard AWS chain. `s3://KEY:SECRET@bucket/...` is accepted for
 * local stores (s3rver, a MinIO in a test); `describeBlobSpec` never prints the secret.
 */
import * as path from 'node:path';
import { CompactdError } from '../model/errors.js';
import type { Blob } from './blob.js';
import { FileBlob, type FileBlobOptions } from './file.js';
import { MemoryBlob } from './memory.js';
import type { ChecksumMode, S3BlobOptions, S3Credentials } from './s3.js';
import { checkKey } from './util.js';

export interface FileBlobSpec {
  readonly kind: 'file';
  /** Absolute directory. */
  readonly root: string;
  readonly fsync?: boolean;
}

export interface MemoryBlobSpec {
  readonly kind: 'memory';
  /** Stores with the same name in one process share their objects. */
  readonly name?: string;
}

export interface S3BlobSpec {
  readonly kind: 's3';
  readonly bucket: string;
  /** Without leading or trailing slashes; empty for none. */
  readonly prefix: string;
  readonly endpoint?: string;
  readonly region?: string;
  readonly forcePathStyle?: boolean;
  readonly checksums?: ChecksumMode;
  readonly credentials?: S3Credentials;
}

export type BlobSpec = FileBlobSpec | MemoryBlobSpec | S3BlobSpec;

const MEM_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
// S3 bucket naming rules (3-63 chars, lowercase, digits, dots, hyphens; alphanumeric at both ends).
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const REGION_RE = /^[a-z0-9-]{1,64}$/;
const S3_PARAMS = new Set(['endpoint', 'region', 'forcePathStyle', 'checksums']);

/**
 * Parses a blob URL into a spec. Relative file URLs resolve against `cwd`. Anything malformed
 * (unknown scheme or parameter, bad bucket, traversal in a prefix) throws CompactdError 'invalid'
 * with a one-line message that never contains a secret.
 */
export function parseBlobUrl(url: string, cwd: string = process.cwd()): BlobSpec {
  if (typeof url !== 'string' || url.trim() === '') throw bad(String(url), 'empty');
  if (/[\r\n]/.test(url)) throw bad(url, 'contains a line break');
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'file':
      return parseFile(url, cwd);
    case 'mem':
      return parseMem(url);
    case 's3':
      return parseS3(url);
    default:
      throw bad(url, 'expected file://, mem:// or s3://');
  }
}

function parseFile(url: string, cwd: string): FileBlobSpec {
  const [rest, query] = splitQuery(url.slice('file://'.length));
  const params = new URLSearchParams(query);
  let fsync: boolean | undefined;
  for (const name of uniqueKeys(url, params)) {
    if (name !== 'fsync') throw bad(url, `unknown parameter ${JSON.stringify(name)} (expected fsync)`);
    fsync = parseBool(url, name, params.get(name)!);
  }
  const p = decode(url, rest);
  let root: string;
  if (p.startsWith('/')) root = path.resolve(p);
  else if (p === '.' || p === '..' || p.startsWith('./') || p.startsWith('../')) root = path.resolve(cwd, p);
  else throw bad(url, 'expected file:///absolute/dir or file://./relative/dir');
  return fsync === undefined ? { kind: 'file', root } : { kind: 'file', root, fsync };
}

function parseMem(url: string): MemoryBlobSpec {
  const name = url.slice('mem://'.length).replace(/\/$/, '');
  if (name === '') return { kind: 'memory' };
  if (!MEM_NAME_RE.test(name)) throw bad(url, 'use 1 to 128 letters, digits, ".", "_" or "-" for the store name, starting with a letter or digit');
  return { kind: 'memory', name };
}

function parseS3(url: string): S3BlobSpec {
  // Checked before URL parsing, which would silently resolve `..` segments away.
  const rawPath = splitQuery(url.slice('s3://'.length))[0].split('#')[0];
  if (rawPath.split('/').slice(1).some((seg) => ['.', '..'].includes(decode(url, seg)))) {
    throw bad(url, 'traversal segment in prefix');
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad(url, 'not a URL');
  }
  if (u.hash) throw bad(url, 'unexpected #fragment');
  if (u.port) throw bad(url, 'a bucket has no port: put the store address in ?endpoint=');
  const bucket = u.hostname;
  if (!BUCKET_RE.test(bucket)) throw bad(url, `bucket ${JSON.stringify(bucket)} is not a valid S3 bucket name`);
  const prefix = decode(url, u.pathname).replace(/^\/+/, '').replace(/\/+$/, '');
  if (prefix !== '') {
    try {
      checkKey(prefix);
    } catch (err) {
      throw bad(url, `bad prefix: ${(err as Error).message}`);
    }
  }
  let credentials: S3Credentials | undefined;
  if (u.username || u.password) {
    if (!u.username || !u.password) throw bad(url, 'credentials need both an access key and a secret');
    credentials = { accessKeyId: decode(url, u.username), secretAccessKey: decode(url, u.password) };
  }
  const spec: { -readonly [K in keyof S3BlobSpec]: S3BlobSpec[K] } = { kind: 's3', bucket, prefix };
  if (credentials) spec.credentials = credentials;
  for (const name of uniqueKeys(url, u.searchParams)) {
    const value = u.searchParams.get(name)!;
    if (!S3_PARAMS.has(name)) throw bad(url, `unknown parameter ${JSON.stringify(name)} (expected ${[...S3_PARAMS].join(', ')})`);
    if (name === 'endpoint') spec.endpoint = parseEndpoint(url, value);
    else if (name === 'region') {
      if (!REGION_RE.test(value)) throw bad(url, `bad region ${JSON.stringify(value)}`);
      spec.region = value;
    } else if (name === 'forcePathStyle') spec.forcePathStyle = parseBool(url, name, value);
    else if (name === 'checksums') {
      const v = value.toLowerCase();
      if (v !== 'when_required' && v !== 'when_supported') throw bad(url, 'checksums must be when_required or when_supported');
      spec.checksums = v;
    }
  }
  return spec;
}

function parseEndpoint(url: string, value: string): string {
  let e: URL;
  try {
    e = new URL(value);
  } catch {
    throw bad(url, `endpoint ${JSON.stringify(value)} is not a URL`);
  }
  if (e.protocol !== 'http:' && e.protocol !== 'https:') throw bad(url, 'endpoint must be http:// or https://');
  if (e.username || e.password || e.search || e.hash) throw bad(url, 'endpoint must be scheme://host[:port][/path] only');
  return value.replace(/\/+$/, '');
}

function splitQuery(s: string): [string, string] {
  const i = s.indexOf('?');
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

function uniqueKeys(url: string, params: URLSearchParams): string[] {
  const keys = [...params.keys()];
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k)) throw bad(url, `parameter ${JSON.stringify(k)} given twice`);
    seen.add(k);
  }
  return keys;
}

function parseBool(url: string, name: string, value: string): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw bad(url, `${name} must be true or false`);
}

function decode(url: string, s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw bad(url, 'malformed percent-escape');
  }
}

/** The URL with any credentials masked, for messages and logs. */
export function redactBlobUrl(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#@]*@/, '$1***@');
}

function bad(url: string, why: string): CompactdError {
  return new CompactdError('invalid', `bad blob URL ${JSON.stringify(redactBlobUrl(url))}: ${why}`);
}

/** A one-line description of a spec for logs: its URL form without credentials. */
export function describeBlobSpec(spec: BlobSpec): string {
  switch (spec.kind) {
    case 'file':
      return `file://${spec.root}${spec.fsync === false ? '?fsync=false' : ''}`;
    case 'memory':
      return `mem://${spec.name ?? ''}`;
    case 's3': {
      const q = new URLSearchParams();
      if (spec.endpoint) q.set('endpoint', spec.endpoint);
      if (spec.region) q.set('region', spec.region);
      if (spec.forcePathStyle !== undefined) q.set('forcePathStyle', String(spec.forcePathStyle));
      if (spec.checksums) q.set('checksums', spec.checksums);
      const qs = q.toString();
      return `s3://${spec.bucket}/${spec.prefix}${qs ? `?${qs}` : ''}`;
    }
  }
}

export interface OpenBlobOptions {
  /** Base of relative file URLs (default: the working directory). */
  readonly cwd?: string;
  /** Tuning for file stores; the URL's own settings win. */
  readonly file?: FileBlobOptions;
  /** Tuning for S3 stores (retry policy, timeouts, part sizes); the URL's own settings win. */
  readonly s3?: Partial<Omit<S3BlobOptions, 'bucket' | 'prefix'>>;
}

/** Opens the store a URL or spec names. Throws 'invalid' for a bad URL; makes no request yet. */
export async function openBlob(url: string | BlobSpec, opts: OpenBlobOptions = {}): Promise<Blob> {
  const spec = typeof url === 'string' ? parseBlobUrl(url, opts.cwd) : url;
  switch (spec.kind) {
    case 'file':
      return new FileBlob(spec.root, { ...opts.file, ...(spec.fsync === undefined ? {} : { fsync: spec.fsync }) });
    case 'memory':
      return spec.name === undefined ? new MemoryBlob() : MemoryBlob.shared(spec.name);
    case 's3': {
      const { kind: _kind, ...fields } = spec;
      const defined = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<S3BlobOptions>;
      // The AWS SDK takes a large share of start-up: loaded only for s3:// stores.
      const { S3Blob } = await import('./s3.js');
      return new S3Blob({ ...opts.s3, ...defined, bucket: spec.bucket });
    }
    default:
      throw new CompactdError('invalid', `unknown blob store kind ${JSON.stringify((spec as { kind: unknown }).kind)}`);
  }
}

const STORE_PHRASE = " from the service's store ";

/**
 * `message` with the store it concerns appended (`... from the service's store URL`), so a
 * client that wrote to another store can tell; `storeNamedIn` reads the URL back.
 */
export function namingStore(message: string, storeUrl: string): string {
  return `${message}${STORE_PHRASE}${storeUrl}`;
}

/** The store URL `namingStore` appended to `message`, if any. */
export function storeNamedIn(message: string): string | undefined {
  const i = message.lastIndexOf(STORE_PHRASE);
  return i < 0 ? undefined : message.slice(i + STORE_PHRASE.length);
}
