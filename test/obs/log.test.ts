/**
 * Log values a person reads: durations in milliseconds with three significant digits (whole
 * milliseconds from a second up), in the records of a real compaction; human lines render
 * every field of a record.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openBlob } from '../../src/blob/url.js';
import { CompactorClient } from '../../src/client/compactor-client.js';
import { createRootLogger, prettyLine, roundMs } from '../../src/obs/log.js';
import { compactRequest, startTestServer, writeInputs } from '../service/harness.js';

/** Significant digits of a logged number: 0.0186 has 3, 1234 has 4. */
function significant(n: number): number {
  return String(n).replace('.', '').replace(/^0+/, '').replace(/0+$/, '').length;
}

describe('roundMs', () => {
  it('keeps three significant digits below a second and whole milliseconds above', () => {
    expect(roundMs(0.0186260000045877)).toBe(0.0186);
    expect(roundMs(1.23456)).toBe(1.23);
    expect(roundMs(45.678)).toBe(45.7);
    expect(roundMs(789.4)).toBe(789);
    expect(roundMs(1234.56)).toBe(1235);
    expect(roundMs(90_000)).toBe(90_000);
    expect(roundMs(0)).toBe(0);
  });
});

describe('human log lines', () => {
  it('show the message, the level and every field', () => {
    const out: string[] = [];
    const log = createRootLogger({ level: 'info', format: 'pretty', destination: { write: (s: string) => void out.push(s) } });
    log.warn({ op: 'get', key: 'parts/s1/p 1', attempt: 2 }, 'blob request retried');
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^\d\d:\d\d:\d\d warn {2}blob request retried {2}op=get {2}key="parts\/s1\/p 1" {2}attempt=2\n$/);
    expect(prettyLine({ level: 30, msg: 'x', err: { message: 'boom' } })).toBe(' info  x  err="boom"');
  });
});

describe('compaction log records', () => {
  it('log queue wait, run time and timeout as rounded milliseconds', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'compactd-logms-'));
    const t = await startTestServer(pathToFileURL(dir).href, ['--workers', '1']);
    const client = new CompactorClient(t.server.address);
    try {
      const blob = await openBlob(pathToFileURL(dir).href);
      const { inputs } = await writeInputs(blob, 'logms', 2, 50);
      await blob.close();
      await client.compact(compactRequest('logms', inputs));
      const started = t.logs.find((l) => l.msg === 'compaction started')!;
      const finished = t.logs.find((l) => l.msg === 'compaction finished')!;
      for (const [record, fields] of [
        [started, ['queuedMs', 'timeoutMs']],
        [finished, ['queuedMs', 'runMs']],
      ] as const) {
        for (const f of fields) {
          const v = record[f] as number;
          expect(typeof v).toBe('number');
          expect(v >= 1000 ? Number.isInteger(v) : significant(v) <= 3).toBe(true);
        }
        expect(Object.keys(record).filter((k) => k.endsWith('Seconds'))).toEqual([]);
      }
    } finally {
      client.close();
      await t.server.shutdown();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
