/**
 * The --blob URL parser: every documented form, and malformed URLs rejected with a one-line
 * 'invalid' error that never echoes a secret.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileBlob } from '../../src/blob/file.js';
import { MemoryBlob } from '../../src/blob/memory.js';
import { S3Blob } from '../../src/blob/s3.js';
import { describeBlobSpec, openBlob, parseBlobUrl, redactBlobUrl } from '../../src/blob/url.js';
import { CompactdError } from '../../src/model/errors.js';

describe('parseBlobUrl: good URLs', () => {
  const cwd = '/srv/compactd';
  const cases: [string, unknown][] = [
    ['file:///abs/dir', { kind: 'file', root: '/abs/dir' }],
    ['file:///abs/dir/', { kind: 'file', root: '/abs/dir' }],
    ['file:///abs/with%20space', { kind: 'file', root: '/abs/with space' }],
    ['file://./data', { kind: 'file', root: '/srv/compactd/data' }],
    ['file://../up/data', { kind: 'file', root: '/srv/up/data' }],
    ['file://.', { kind: 'file', root: '/srv/compactd' }],
    ['file:///abs?fsync=false', { kind: 'file', root: '/abs', fsync: false }],
    ['FILE:///abs?fsync=true', { kind: 'file', root: '/abs', fsync: true }],
    ['mem://', { kind: 'memory' }],
    ['mem://shared-1', { kind: 'memory', name: 'shared-1' }],
    ['s3://bucket', { kind: 's3', bucket: 'bucket', prefix: '' }],
    ['s3://my.bucket-1/', { kind: 's3', bucket: 'my.bucket-1', prefix: '' }],
    ['s3://bucket/a/b/', { kind: 's3', bucket: 'bucket', prefix: 'a/b' }],
    [
      's3://bucket/pre?endpoint=http://127.0.0.1:9000&region=eu-west-1&forcePathStyle=true&checksums=when_required',
      {
        kind: 's3',
        bucket: 'bucket',
        prefix: 'pre',
        endpoint: 'http://127.0.0.1:9000',
        region: 'eu-west-1',
        forcePathStyle: true,
        checksums: 'when_required',
      },
    ],
    [
      's3://bucket?endpoint=https%3A%2F%2Fminio.local%2F&forcePathStyle=false&checksums=WHEN_SUPPORTED',
      { kind: 's3', bucket: 'bucket', prefix: '', endpoint: 'https://minio.local', forcePathStyle: false, checksums: 'when_supported' },
    ],
    [
      's3://AK%2Fx:se%40cret@bucket/p',
      { kind: 's3', bucket: 'bucket', prefix: 'p', credentials: { accessKeyId: 'AK/x', secretAccessKey: 'se@cret' } },
    ],
  ];
  for (const [url, spec] of cases) {
    it(url, () => {
      expect(parseBlobUrl(url, cwd)).toEqual(spec);
    });
  }

  it('resolves relative file URLs against the working directory by default', () => {
    expect(parseBlobUrl('file://./data')).toEqual({ kind: 'file', root: path.resolve(process.cwd(), 'data') });
  });
});

describe('parseBlobUrl: bad URLs', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['data', /expected file:\/\/, mem:\/\/ or s3:\/\//],
    ['/abs/dir', /expected file/],
    ['http://host/x', /expected file/],
    ['gs://bucket', /expected file/],
    ['file://data', /file:\/\/\/absolute\/dir or file:\/\/\.\/relative\/dir/],
    ['file://localhost/abs', /absolute/],
    ['file://', /absolute/],
    ['file:///abs?fsync=maybe', /fsync must be true or false/],
    ['file:///abs?sync=true', /unknown parameter "sync"/],
    ['file:///abs/%zz', /percent-escape/],
    ['mem://bad name', /store name/],
    ['mem://a/b', /store name/],
    ['s3://', /bucket/],
    ['s3://ab', /bucket/],
    ['s3://Bucket', /bucket/],
    ['s3://bucket_x', /bucket/],
    ['s3://bucket:9000/x', /port/],
    ['s3://bucket/../etc', /traversal/],
    ['s3://bucket/a/./b', /traversal/],
    ['s3://bucket/%2e%2e/x', /traversal/],
    ['s3://bucket/a//b', /empty segment/],
    ['s3://bucket/x#frag', /fragment/],
    ['s3://bucket?endpoint=ftp://host', /http/],
    ['s3://bucket?endpoint=not a url', /not a URL/],
    ['s3://bucket?region=EU_WEST', /region/],
    ['s3://bucket?forcePathStyle=yes', /forcePathStyle must be true or false/],
    ['s3://bucket?checksums=always', /checksums must be/],
    ['s3://bucket?endpint=http://x', /unknown parameter "endpint"/],
    ['s3://bucket?region=a&region=b', /given twice/],
    ['s3://keyonly@bucket', /credentials/],
    ['s3://KEY:SECRET@Bad_Bucket', /bucket/],
    ['s3://bucket/a\nb', /line break/],
  ];
  for (const [url, why] of cases) {
    it(JSON.stringify(url), () => {
      let err: unknown;
      try {
        parseBlobUrl(url, '/cwd');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CompactdError);
      const e = err as CompactdError;
      expect(e.kind).toBe('invalid');
      expect(e.message).toMatch(why);
      expect(e.message).not.toMatch(/\n/);
      expect(e.message).not.toContain('SECRET');
    });
  }
});

describe('redaction and description', () => {
  it('masks credentials in URLs and never prints them in descriptions', () => {
    expect(redactBlobUrl('s3://AK:SK@bucket/p?x=1')).toBe('s3://***@bucket/p?x=1');
    expect(redactBlobUrl('s3://bucket/p@x')).toBe('s3://bucket/p@x');
    const spec = parseBlobUrl('s3://AK:SK@bucket/p?endpoint=http://h:1&forcePathStyle=true');
    const text = describeBlobSpec(spec);
    expect(text).not.toContain('SK');
    expect(parseBlobUrl(text)).toEqual({ kind: 's3', bucket: 'bucket', prefix: 'p', endpoint: 'http://h:1', forcePathStyle: true });
  });

  it('round-trips file and memory specs through describeBlobSpec', () => {
    for (const url of ['file:///a/b', 'file:///a/b?fsync=false', 'mem://', 'mem://x']) {
      expect(parseBlobUrl(describeBlobSpec(parseBlobUrl(url)))).toEqual(parseBlobUrl(url));
    }
  });
});

describe('openBlob', () => {
  it('opens the store a URL names', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'compactd-url-'));
    try {
      const file = await openBlob('file://./store?fsync=false', { cwd: dir });
      expect(file).toBeInstanceOf(FileBlob);
      expect((file as FileBlob).root).toBe(path.join(dir, 'store'));
      await file.set('s/k', new Uint8Array([1]));
      expect(Array.from((await (await openBlob(`file://${dir}/store`)).get('s/k'))!)).toEqual([1]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const s3 = await openBlob('s3://bucket/pre?endpoint=http://127.0.0.1:1');
    expect(s3).toBeInstanceOf(S3Blob);
    expect((s3 as S3Blob).prefix).toBe('pre');
    await s3.close();
  });

  it('gives mem://name one shared store per name and plain mem:// a fresh one each time', async () => {
    const a1 = await openBlob('mem://url-test-a');
    const a2 = await openBlob('mem://url-test-a');
    const b = await openBlob('mem://url-test-b');
    const anon1 = await openBlob('mem://');
    const anon2 = await openBlob('mem://');
    expect(a1).toBeInstanceOf(MemoryBlob);
    await a1.set('s/k', new Uint8Array([5]));
    await anon1.set('s/k', new Uint8Array([6]));
    expect(Array.from((await a2.get('s/k'))!)).toEqual([5]);
    expect(await b.get('s/k')).toBeUndefined();
    expect(await anon2.get('s/k')).toBeUndefined();
  });

  it('rejects a bad URL with invalid', async () => {
    await expect(openBlob('nope://x')).rejects.toMatchObject({ kind: 'invalid' });
  });
});
