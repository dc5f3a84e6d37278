/**
 * The `diffs_sum` rule (docs/contract.md): every part writer records the exact sum of the part's
 * diffs when it fits i64 and leaves the field out otherwise; it is never a wrapped value. The
 * engine holds the field of its inputs, when present, to their rows.
 *
 * The sums are computed here with bigints from the rows, independently of the code under test.
 */
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryBlob } from '../../src/blob/memory.js';
import { BatchReader } from '../../src/client/batch-reader.js';
import { BatchWriter } from '../../src/client/batch-writer.js';
import { DEFAULT_ENGINE_CONFIG } from '../../src/compact/types.js';
import type { CompactRequest, CompactResponse, HollowBatch, HollowPart } from '../../src/model/batch.js';
import { recordedDiffsSum } from '../../src/model/batch.js';
import type { Description } from '../../src/model/description.js';
import { CompactdError } from '../../src/model/errors.js';
import { objectKey } from '../../src/model/keys.js';
import { I64_MAX, I64_MIN, consolidate, type Update } from '../../src/model/update.js';
import { decodePart } from '../../src/part/decode.js';
import { updatesFromColumns } from '../../src/part/rows.js';
import { compactResponseFromProto, compactResponseToProto, partToProto } from '../../src/wire/convert.js';
import { compactResponseFromJson, compactResponseToJson, hollowBatchToJson, updateToNdjsonLine } from '../../src/wire/json.js';
import { loadCompactdPackage } from '../../src/wire/load.js';
import { run } from '../helpers/cli.js';
import { validateAndCompact } from '../helpers/compact.js';

const SHARD = 'sums';
const P62 = 1n << 62n;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const desc = (lower: number, upper: number, since = 0): Description => ({
  lower: [[BigInt(lower)]],
  upper: [[BigInt(upper)]],
  since: [[BigInt(since)]],
});

function hollowParts(batch: HollowBatch): HollowPart[] {
  return batch.runs.flatMap((r) => r.parts.filter((p): p is HollowPart => p.kind === 'hollow'));
}

/** The exact Σd of a stored part, read from its bytes. */
async function exactSum(blob: MemoryBlob, part: HollowPart): Promise<bigint> {
  const bytes = await blob.get(objectKey(SHARD, part.key));
  return updatesFromColumns(decodePart(bytes!, part.key).cols).reduce((s, u) => s + u.d, 0n);
}

/** A CompactResponse through the gRPC path: model -> proto object -> protobuf bytes and back. */
function throughGrpc(res: CompactResponse): CompactResponse {
  const { packageDefinition } = loadCompactdPackage();
  const method = (packageDefinition['compactd.v1.Compactor'] as Record<string, { responseSerialize(v: unknown): Buffer; responseDeserialize(b: Buffer): unknown }>).Compact;
  const wire = method.responseSerialize(compactResponseToProto(res));
  return compactResponseFromProto(method.responseDeserialize(wire) as Parameters<typeof compactResponseFromProto>[0]);
}

/** A CompactResponse through the JSON path: printed as `compact --local` does, parsed back. */
function throughJson(res: CompactResponse): { text: string; parsed: CompactResponse } {
  const text = JSON.stringify(compactResponseToJson(res));
  return { text, parsed: compactResponseFromJson(JSON.parse(text)) };
}

async function compactAll(blob: MemoryBlob, inputs: HollowBatch[], targetPartBytes = DEFAULT_ENGINE_CONFIG.targetPartBytes): Promise<CompactResponse> {
  const req: CompactRequest = {
    shardId: SHARD,
    desc: { lower: inputs[0].desc.lower, upper: inputs[inputs.length - 1].desc.upper, since: inputs[0].desc.since },
    inputs,
    force: true,
    requestId: '',
  };
  const { output, stats } = await validateAndCompact(req, { blob, config: { ...DEFAULT_ENGINE_CONFIG, targetPartBytes } });
  return { outcome: 'compacted', output, stats };
}

describe('diffs_sum of output parts', () => {
  it('is left out when the sum passes i64: two updates of 2^62 from different batches', async () => {
    const blob = new MemoryBlob();
    const writer = new BatchWriter({ blob, shardId: SHARD, dims: 1, targetPartBytes: 1 << 20 });
    const inputs = [
      await writer.write([{ k: enc('a'), v: enc(''), t: [0n], d: P62 }], desc(0, 5)),
      await writer.write([{ k: enc('b'), v: enc(''), t: [5n], d: P62 }], desc(5, 10)),
    ];
    // Each input part's own sum fits: recorded.
    expect(inputs.flatMap(hollowParts).map((p) => p.diffsSum)).toEqual([P62, P62]);

    const res = await compactAll(blob, inputs);
    const [out] = hollowParts(res.output!);
    expect(hollowParts(res.output!)).toHaveLength(1);
    expect(await exactSum(blob, out)).toBe(2n * P62);
    expect('diffsSum' in out).toBe(false);

    // gRPC: the field is absent on the wire, not -2^63.
    const proto = partToProto(out);
    expect(proto.hollow!.diffs_sum).toBeUndefined();
    const viaGrpc = hollowParts(throughGrpc(res).output!)[0];
    expect(viaGrpc.diffsSum).toBeUndefined();
    expect(viaGrpc.key).toBe(out.key);

    // JSON: no out-of-range number is printed, and the output parses back.
    const { text, parsed } = throughJson(res);
    expect(text).not.toContain('diffsSum');
    expect(text).not.toContain('9223372036854775808');
    expect(hollowParts(parsed.output!)[0].diffsSum).toBeUndefined();

    // Read back (what read-batch does) and compacted again: accepted.
    const reader = new BatchReader({ blob, shardId: SHARD });
    expect((await reader.read(res.output!)).map((u) => u.d)).toEqual([P62, P62]);
    const again = await compactAll(blob, [res.output!]);
    expect(hollowParts(again.output!).map((p) => p.diffsSum)).toEqual([undefined]);
  });

  it('random diffs near the i64 edges: every output part records its exact sum or nothing', async () => {
    const edge = fc.oneof(
      fc.constantFrom(P62, -P62, I64_MAX, I64_MIN, I64_MAX - 1n, I64_MIN + 1n, P62 + 1n, -(P62 + 1n)),
      fc.bigInt({ min: I64_MIN, max: I64_MAX }),
      fc.bigInt({ min: -3n, max: 3n }).filter((d) => d !== 0n),
    );
    await fc.assert(
      fc.asyncProperty(
        // Two or three input batches of distinct keys: consolidation never sums two rows, so no
        // single update leaves i64, while the parts' sums do.
        fc.array(fc.array(edge, { minLength: 1, maxLength: 12 }), { minLength: 2, maxLength: 3 }),
        fc.integer({ min: 40, max: 400 }),
        async (batches, targetPartBytes) => {
          const blob = new MemoryBlob();
          const writer = new BatchWriter({ blob, shardId: SHARD, dims: 1, targetPartBytes: 64 });
          const inputs: HollowBatch[] = [];
          const all: Update[] = [];
          for (const [i, diffs] of batches.entries()) {
            const rows = diffs.map((d, j): Update => ({ k: enc(`k${String(i * 100 + j).padStart(4, '0')}`), v: enc(''), t: [BigInt(i)], d }));
            all.push(...rows);
            inputs.push(await writer.write(rows, desc(i, i + 1)));
          }
          for (const p of inputs.flatMap(hollowParts)) {
            const sum = await exactSum(blob, p);
            expect(p.diffsSum).toBe(sum >= I64_MIN && sum <= I64_MAX ? sum : undefined);
          }

          const res = await compactAll(blob, inputs, targetPartBytes);
          for (const p of hollowParts(res.output!)) {
            const sum = await exactSum(blob, p);
            if (sum >= I64_MIN && sum <= I64_MAX) expect(p.diffsSum).toBe(sum);
            else expect('diffsSum' in p).toBe(false);
          }
          // Every output is read back, through the wire forms too.
          const reader = new BatchReader({ blob, shardId: SHARD });
          expect(await reader.read(res.output!)).toEqual(consolidate(all, res.output!.desc.since));
          expect(throughGrpc(res).output).toEqual(res.output);
          expect(throughJson(res).parsed.output).toEqual(res.output);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('recordedDiffsSum is the sum inside i64 and nothing outside', () => {
    expect(recordedDiffsSum(I64_MAX)).toBe(I64_MAX);
    expect(recordedDiffsSum(I64_MIN)).toBe(I64_MIN);
    expect(recordedDiffsSum(0n)).toBe(0n);
    expect(recordedDiffsSum(I64_MAX + 1n)).toBeUndefined();
    expect(recordedDiffsSum(I64_MIN - 1n)).toBeUndefined();
  });

  it('compact --local prints no diffsSum past i64, and read-batch accepts the output', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'compactd-sums-'));
    try {
      const blob = `file://${dir}`;
      const write = async (k: string, t: number, lower: number, upper: number): Promise<HollowBatch> => {
        const r = await run(
          ['write-batch', '--blob', blob, '--shard', SHARD, '--lower', `[["${lower}"]]`, '--upper', `[["${upper}"]]`],
          updateToNdjsonLine({ k: enc(k), v: enc(''), t: [BigInt(t)], d: P62 }),
        );
        expect(r.stderr).toBe('');
        return JSON.parse(r.stdout) as HollowBatch;
      };
      const req = {
        shardId: SHARD,
        desc: { lower: [['0']], upper: [['10']], since: [['0']] },
        inputs: [await write('a', 0, 0, 5), await write('b', 5, 5, 10)],
      };
      const r = await run(['compact', '--local', '--blob', blob], JSON.stringify(req));
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).not.toContain('diffsSum');
      expect(r.stdout).not.toContain('9223372036854775808');
      const res = compactResponseFromJson(JSON.parse(r.stdout));
      const read = await run(['read-batch', '--blob', blob, '--shard', SHARD], JSON.stringify(hollowBatchToJson(res.output!)));
      expect(read.stderr).toBe('');
      expect(read.code).toBe(0);
      expect(read.stdout.trim().split('\n')).toHaveLength(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('diffs_sum of input parts', () => {
  async function oneInput(): Promise<{ blob: MemoryBlob; inputs: HollowBatch[] }> {
    const blob = new MemoryBlob();
    const writer = new BatchWriter({ blob, shardId: SHARD, dims: 1, targetPartBytes: 1 << 20 });
    const inputs = [
      await writer.write([{ k: enc('a'), v: enc(''), t: [0n], d: 5n }, { k: enc('b'), v: enc(''), t: [1n], d: -2n }], desc(0, 5)),
      await writer.write([{ k: enc('c'), v: enc(''), t: [5n], d: 1n }], desc(5, 10)),
    ];
    return { blob, inputs };
  }

  /** `inputs` with the first part of the first batch recording `diffsSum` instead. */
  function recording(inputs: HollowBatch[], diffsSum: bigint | undefined): HollowBatch[] {
    const [first, ...rest] = inputs;
    const [part] = hollowParts(first);
    const { diffsSum: _, ...withoutSum } = part;
    const changed: HollowPart = diffsSum === undefined ? withoutSum : { ...withoutSum, diffsSum };
    return [{ ...first, runs: [{ ...first.runs[0], parts: [changed] }] }, ...rest];
  }

  it('a recorded sum that the rows contradict is data loss naming the part, and nothing is written', async () => {
    const { blob, inputs } = await oneInput();
    const key = hollowParts(inputs[0])[0].key;
    const before = blob.totalBytes;
    const err = await compactAll(blob, recording(inputs, 4n)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CompactdError);
    expect((err as CompactdError).kind).toBe('data_loss');
    expect((err as CompactdError).message).toBe(`part ${SHARD}/${key} sums its diffs to 3, but its batch records diffs_sum 4`);
    expect(blob.totalBytes).toBe(before);
  });

  it('a recorded sum that agrees, or none, is accepted', async () => {
    const { blob, inputs } = await oneInput();
    for (const sum of [3n, undefined]) {
      const res = await compactAll(blob, recording(inputs, sum));
      expect(hollowParts(res.output!).map((p) => p.diffsSum)).toEqual([4n]);
    }
  });

  it('a recorded sum outside i64 is an invalid request', async () => {
    const { blob, inputs } = await oneInput();
    const err = await compactAll(blob, recording(inputs, I64_MAX + 1n)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as CompactdError).kind).toBe('invalid');
    expect((err as CompactdError).message).toMatch(/inputs\[0\]\.runs\[0\]\.parts\[0\]: diffsSum 9223372036854775808 is outside the i64 range/);
  });

  it('partToProto refuses a diffsSum an int64 cannot hold', () => {
    const part: HollowPart = { kind: 'hollow', key: 'w1/p1', encodedSizeBytes: 1, updates: 1, keyLower: new Uint8Array(0), checksum: '', diffsSum: I64_MAX + 1n };
    expect(() => partToProto(part)).toThrow(/outside the int64 range/);
  });
});
