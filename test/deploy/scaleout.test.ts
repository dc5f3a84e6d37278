/**
 * Scale-out on one machine: three `compactd serve` processes on loopback share one S3 store
 * (s3rver), credentials from the AWS environment as in docker-compose.yml. One client with a
 * round_robin channel over all three drives many compactions at once; one server is SIGKILLed
 * while it still has queued work. Every compaction must still succeed, through the client's
 * retries on the two survivors, and every output must equal the reference consolidation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBlob } from '../../src/blob/url.js';
import type { Blob } from '../../src/blob/blob.js';
import { BatchReader } from '../../src/client/batch-reader.js';
import { CompactorClient } from '../../src/client/compactor-client.js';
import type { CompactResponse, HollowBatch } from '../../src/model/batch.js';
import { consolidate, type Update } from '../../src/model/update.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { compactRequest, httpGetText, writeInputs } from '../service/harness.js';
import { metricSum } from '../service/prom.js';
import { servingPorts, spawnServe, type ServeProcess } from '../helpers/serve-process.js';

const SERVERS = 3;
const SHARDS = 6;
const BATCHES = 8;
const ROWS = 1500;
/** Requests per shard, each with another since, so each has its own expected output. */
const SINCES = [0, 5, 9, 16];

let s3: S3rverHandle;
let blob: Blob;
const children: ServeProcess[] = [];

beforeAll(async () => {
  s3 = await startS3rver({ prefix: 'scaleout' });
  blob = await openBlob(s3.url);
});

afterAll(async () => {
  for (const c of children) c.proc.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exit));
  await blob?.close();
  await s3?.stop();
});

async function scrape(metricsPort: number): Promise<string> {
  return (await httpGetText(metricsPort, '/metrics')).body;
}

function sameUpdates(a: readonly Update[], b: readonly Update[]): boolean {
  return a.length === b.length && a.every((u, i) => Buffer.compare(u.k, b[i].k) === 0 && Buffer.compare(u.v, b[i].v) === 0 && u.t[0] === b[i].t[0] && u.d === b[i].d);
}

describe('scale-out', () => {
  it('three replicas behind a round_robin channel: one SIGKILLed mid-run, every compaction still succeeds and is correct', async () => {
    // The blob URL carries no credentials: each server takes them from AWS_* variables.
    const url = `s3://${s3.bucket}/scaleout?endpoint=${encodeURIComponent(s3.endpoint)}&region=us-east-1&forcePathStyle=true&checksums=when_required`;
    for (let i = 0; i < SERVERS; i++) {
      children.push(spawnServe(['--port', '0', '--metrics-port', '0', '--blob', url, '--workers', '1'], s3.env));
    }
    const [inputsByShard, ports] = await Promise.all([
      Promise.all(Array.from({ length: SHARDS }, (_, i) => writeInputs(blob, `so-${i}`, BATCHES, ROWS))),
      Promise.all(children.map((c) => servingPorts(c))),
    ]);

    const target = `ipv4:${ports.map((p) => `127.0.0.1:${p.port}`).join(',')}`;
    const client = new CompactorClient({ address: target, loadBalancing: 'round_robin', retries: 10, backoffInitialMs: 50, backoffMaxMs: 1000 });
    try {
      // Let the channel connect to every replica before the burst, so round_robin spreads it.
      for (let i = 0; i < 2 * SERVERS; i++) await client.getConfig();

      const jobs: { shard: string; since: number; inputs: HollowBatch[]; rows: Update[] }[] = [];
      inputsByShard.forEach(({ inputs, rows }, i) => SINCES.forEach((since) => jobs.push({ shard: `so-${i}`, since, inputs, rows })));
      const results: (CompactResponse | Error)[] = new Array(jobs.length);
      const settled = Promise.all(
        jobs.map((j, n) =>
          client
            .compact(compactRequest(j.shard, j.inputs, { since: j.since, requestId: `so-${n}` }), { deadlineMs: 50_000 })
            .then((r) => (results[n] = r), (e: Error) => (results[n] = e)),
        ),
      );

      // Kill a replica once it has finished some work and still holds queued requests: those can
      // only be answered by the survivors, through retries. (Whichever replica gets there first:
      // on a loaded machine the channel may not have spread the burst evenly.)
      let victimIndex = -1;
      let atKill = '';
      for (const end = Date.now() + 40_000; victimIndex < 0; ) {
        const texts = await Promise.all(ports.map((p) => scrape(p.metricsPort)));
        victimIndex = texts.findIndex(
          (t) => metricSum(t, 'compactd_compaction_completed_total') >= 1 && metricSum(t, 'compactd_queue_depth') >= 2,
        );
        if (victimIndex >= 0) {
          // The scrape is fresh enough: two queued compactions cannot finish in between.
          children[victimIndex].proc.kill('SIGKILL');
          atKill = texts[victimIndex];
        } else {
          if (Date.now() > end) throw new Error('no replica ever had queued work to lose');
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      const victim = children[victimIndex];
      expect(await victim.exit).toEqual({ code: null, signal: 'SIGKILL' });
      await settled;

      const failures = results.filter((r) => r instanceof Error).map((e) => (e as Error).message);
      expect(failures).toEqual([]);
      const reader = (shard: string) => new BatchReader({ blob, shardId: shard });
      for (const [n, j] of jobs.entries()) {
        const res = results[n] as CompactResponse;
        expect(res.outcome).toBe('compacted');
        const got = await reader(j.shard).readConsolidated(res.output!);
        const want = consolidate(j.rows, [[BigInt(j.since)]]);
        expect(sameUpdates(got, want), `job ${n} (${j.shard}, since ${j.since})`).toBe(true);
        expect(res.output!.len).toBe(want.length);
      }

      // Without retries, the attempts seen by the servers would add up to the jobs exactly; the
      // victim's queued requests were sent again, so the attempts exceed them.
      const survivors = await Promise.all(ports.filter((_, i) => i !== victimIndex).map((p) => scrape(p.metricsPort)));
      const attempts = metricSum(atKill, 'compactd_compaction_requested_total') + survivors.reduce((s, t) => s + metricSum(t, 'compactd_compaction_requested_total'), 0);
      expect(attempts).toBeGreaterThan(jobs.length);
      // round_robin spread the work: every survivor completed some of it.
      for (const t of survivors) expect(metricSum(t, 'compactd_compaction_completed_total')).toBeGreaterThan(0);
    } finally {
      client.close();
    }
  });
});
