/**
 * The conformance suite against every store: files in a temp directory, memory, and S3 through
 * a real s3rver on a random loopback port.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { FileBlob } from '../../src/blob/file.js';
import { MemoryBlob } from '../../src/blob/memory.js';
import { S3Blob } from '../../src/blob/s3.js';
import { openBlob } from '../../src/blob/url.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { blobConformance } from './conformance.js';

let tmp: string;
let s3: S3rverHandle;
let seq = 0;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'compactd-blob-'));
  s3 = await startS3rver();
});

afterAll(async () => {
  await s3?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

blobConformance('file', async () => new FileBlob(path.join(tmp, `store${++seq}`), { fsync: false }), {
  atomicOverwrite: true,
  enforcesConditions: true,
});

blobConformance('memory', async () => new MemoryBlob(), { atomicOverwrite: true, enforcesConditions: true });

// Each test gets its own prefix in the one bucket: a fresh, empty namespace, and prefix handling
// is exercised on every operation. Opened through the URL, as the CLI does.
blobConformance('s3 (s3rver)', async () => {
  const blob = await openBlob(`${s3.url.replace('/?', `/t${++seq}/n?`)}`);
  if (!(blob instanceof S3Blob)) throw new Error('expected an S3Blob');
  return blob;
});
