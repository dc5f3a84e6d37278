/**
 * `compactd orphans`: finds (and with --delete removes) parts the service wrote under a shard that
 * no live batch references: what a compaction leaves behind when its process is killed before it
 * can clean up, or when a writer never applied nor deleted a response. Only keys of the service's
 * own form (`c<uuid>/p<uuid>`) are ever considered, so writer data cannot be touched.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { BlobMeta } from '../blob/blob.js';
import type { HollowBatch } from '../model/batch.js';
import { CompactdError } from '../model/errors.js';
import { checkpointPrefix } from '../model/compaction-id.js';
import { isServiceKey, objectKey, validateShardId } from '../model/keys.js';
import { readFlag, usage } from '../config/argv.js';
import { flagCommand, write } from './command.js';
import { commandInfo } from './catalog.js';
import { BLOB_FLAG, SHARD_FLAG, withBlob } from './shared.js';

/** Temp files of unfinished writes swept by --delete when --older-than is not given: no live write takes an hour. */
const TEMP_MIN_AGE_MS = 3_600_000;

const UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `30s`, `15m`, `1h`, `2d` (a number and a unit) into milliseconds; `invalid` otherwise. */
export function parseDuration(text: string, flag = '--older-than'): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw usage(`${flag}: expected a duration such as 30s, 15m, 1h or 2d, got ${JSON.stringify(text)}`);
  return Number(m[1]) * UNITS_MS[m[2]];
}

/** The part keys referenced by the hollow batches of a --live file (one batch or a list). */
export function liveKeys(json: unknown, hollowBatchFromJson: (json: unknown) => HollowBatch): Set<string> {
  const batches: unknown[] = Array.isArray(json) ? json : [json];
  const keys = new Set<string>();
  batches.forEach((b, i) => {
    let batch: HollowBatch;
    try {
      batch = hollowBatchFromJson(b);
    } catch (err) {
      throw usage(`--live: batch ${i}: ${(err as Error).message}`);
    }
    for (const r of batch.runs) for (const p of r.parts) if (p.kind === 'hollow') keys.add(p.key);
  });
  return keys;
}

const DETAILS = `Lists the parts under --shard that this service wrote (keys c<uuid>/p<uuid>) and that no
batch in --live references, one part key per line on stdout, with a summary on stderr.
--live is a JSON file holding one HollowBatch or a list of them: every batch the writer still
uses. --older-than skips parts modified more recently (give it more than the longest compaction
timeout, so outputs of compactions still running are left alone). --delete removes what is
listed; it requires --live, since without it every part the service ever wrote looks orphaned.
On a file store --delete also removes temp files of writes a crash cut off (older than
--older-than, or an hour).`;

export const orphansCommand = flagCommand({
  ...commandInfo('orphans'),
  details: DETAILS,
  flags: [
    { ...BLOB_FLAG, required: true },
    SHARD_FLAG,
    { name: 'live', type: 'string', valueName: 'FILE', help: 'JSON file with the live HollowBatch(es) of the shard' },
    { name: 'older-than', type: 'string', valueName: 'DURATION', help: 'only parts last modified longer ago than this (30s, 15m, 1h, 2d)' },
    { name: 'delete', type: 'boolean', help: 'delete the parts listed' },
  ],
  async run(flags, io) {
    const shard = String(flags.get('shard'));
    readFlag(() => validateShardId(shard));
    const del = flags.get('delete') === true;
    const liveFile = flags.get('live') as string | undefined;
    if (del && liveFile === undefined) throw usage('--delete needs --live (without it every service-written part looks orphaned)');
    const olderThan = flags.get('older-than');
    const minAgeMs = olderThan === undefined ? undefined : parseDuration(String(olderThan));
    // The JSON codec and the checkpoint decoder read the .proto with protobufjs: loaded when the
    // command runs, not for --help.
    const [{ hollowBatchFromJson, parseJson }, { checkpointParts, decodeCheckpoint }] = await Promise.all([
      import('../wire/json.js'),
      import('../service/jobs/checkpoint.js'),
    ]);

    let live = new Set<string>();
    if (liveFile !== undefined) {
      let text: string;
      try {
        text = await readFile(path.resolve(io.cwd, liveFile), 'utf8');
      } catch (err) {
        throw usage(`--live: cannot read ${JSON.stringify(liveFile)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      live = liveKeys(parseJson(text, '--live'), hollowBatchFromJson);
    }

    return withBlob(flags, io.cwd, async (blob) => {
      const now = Date.now();
      const prefix = `${shard}/`;
      let serviceParts = 0;
      let referenced = 0;
      let young = 0;
      let unknownAge = 0;
      let bytes = 0;
      const orphans: BlobMeta[] = [];
      // Checkpoints of compaction jobs: one not modified for --older-than is abandoned (its job
      // neither runs nor was resumed) and goes; the parts a kept one records stay resumable.
      const recorded = new Set<string>();
      let inCheckpoints = 0;
      const tooOld = (m: BlobMeta) => minAgeMs !== undefined && m.lastModifiedMs !== undefined && now - m.lastModifiedMs >= minAgeMs;
      for await (const meta of blob.list(checkpointPrefix(shard))) {
        if (tooOld(meta)) {
          orphans.push(meta);
          bytes += meta.size;
          continue;
        }
        const data = await blob.get(meta.key);
        if (data === undefined) continue;
        try {
          for (const k of checkpointParts(decodeCheckpoint(data, meta.key))) recorded.add(k);
        } catch {
          // A checkpoint that cannot be read protects nothing; it is left for --older-than.
        }
      }
      for await (const meta of blob.list(prefix)) {
        const key = meta.key.slice(prefix.length);
        if (!isServiceKey(key)) continue;
        serviceParts++;
        if (!live.has(key) && recorded.has(key)) {
          inCheckpoints++;
          continue;
        }
        if (live.has(key)) {
          referenced++;
          continue;
        }
        if (minAgeMs !== undefined) {
          // Without a modification time the age is unknown: never old enough to delete.
          if (meta.lastModifiedMs === undefined) {
            unknownAge++;
            continue;
          }
          if (now - meta.lastModifiedMs < minAgeMs) {
            young++;
            continue;
          }
        }
        orphans.push(meta);
        bytes += meta.size;
      }
      let deleted = 0;
      let failed = 0;
      for (const meta of orphans) {
        const key = meta.key.slice(prefix.length);
        await write(io.stdout, `${key}\n`);
        if (!del) continue;
        try {
          await blob.delete(isServiceKey(key) ? objectKey(shard, key) : meta.key);
          deleted++;
        } catch (err) {
          failed++;
          await write(io.stderr, `orphans: could not delete ${key}: ${CompactdError.from(err).message}\n`);
        }
      }
      const parts = [
        `orphans: shard ${shard}: ${serviceParts} service-written parts`,
        `${referenced} referenced by --live`,
        ...(inCheckpoints > 0 ? [`${inCheckpoints} recorded by compaction checkpoints`] : []),
        ...(minAgeMs !== undefined ? [`${young} younger than ${String(olderThan)}`] : []),
        ...(unknownAge > 0 ? [`${unknownAge} of unknown age`] : []),
        `${orphans.length} orphaned (${bytes} bytes)`,
        ...(del ? [`${deleted} deleted`] : []),
      ];
      if (del && blob.sweepTemporary !== undefined) {
        // Writes cut off by a crash leave temp files that listing hides; sweep the old ones too.
        const swept = await blob.sweepTemporary(prefix, minAgeMs ?? TEMP_MIN_AGE_MS);
        parts.push(`${swept.removed} unfinished writes removed (${swept.bytes} bytes)`);
      }
      await write(io.stderr, `${parts.join(', ')}\n`);
      if (failed > 0) throw new CompactdError('unavailable', `orphans: ${failed} of ${orphans.length} parts could not be deleted`);
      return 0;
    });
  },
});
