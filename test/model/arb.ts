/**
 * fast-check generators for the domain model, shared by the model, wire, client and CLI tests.
 * Coordinates mix tiny values (so lattice operations and consolidation see ties) with the full
 * u64 range (so encodings see the 64-bit edges).
 */
import fc from 'fast-check';
import { normalize, type Antichain } from '../../src/model/antichain.js';
import type { CompactRequest, CompactResponse, CompactStats, HollowBatch, HollowPart, InlinePart, Part, Run } from '../../src/model/batch.js';
import type { Description } from '../../src/model/description.js';
import { U64_MAX, type Timestamp } from '../../src/model/timestamp.js';
import { I64_MAX, I64_MIN, type Update } from '../../src/model/update.js';

export const coord = (): fc.Arbitrary<bigint> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.bigInt({ min: 0n, max: 12n }) },
    { weight: 1, arbitrary: fc.constantFrom(U64_MAX, U64_MAX - 1n, 1n << 53n, 1n << 63n) },
    { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: U64_MAX }) },
  );

export const smallCoord = (): fc.Arbitrary<bigint> => fc.bigInt({ min: 0n, max: 6n });

export const timestamp = (dims: number, c: () => fc.Arbitrary<bigint> = coord): fc.Arbitrary<Timestamp> =>
  fc.array(c(), { minLength: dims, maxLength: dims });

export const antichain = (dims: number, c: () => fc.Arbitrary<bigint> = coord): fc.Arbitrary<Antichain> =>
  fc.array(timestamp(dims, c), { maxLength: 4 }).map(normalize);

export const nonEmptyAntichain = (dims: number, c: () => fc.Arbitrary<bigint> = coord): fc.Arbitrary<Antichain> =>
  fc.array(timestamp(dims, c), { minLength: 1, maxLength: 4 }).map(normalize);

export const description = (dims: number): fc.Arbitrary<Description> =>
  fc.record({ lower: antichain(dims), upper: antichain(dims), since: antichain(dims) });

const SEG_HEAD = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const SEG_TAIL = `${SEG_HEAD}._-`;

export const segment = (): fc.Arbitrary<string> =>
  fc
    .tuple(fc.constantFrom(...SEG_HEAD), fc.string({ unit: fc.constantFrom(...SEG_TAIL), maxLength: 20 }))
    .map(([h, t]) => h + t);

export const partKey = (): fc.Arbitrary<string> => fc.array(segment(), { minLength: 1, maxLength: 4 }).map((s) => s.join('/'));

export const shardId = (): fc.Arbitrary<string> =>
  fc
    .tuple(fc.constantFrom(...SEG_HEAD), fc.string({ unit: fc.constantFrom(...`${SEG_HEAD}_-`), maxLength: 30 }))
    .map(([h, t]) => h + t);

const hex64 = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 });

export const hollowPart = (): fc.Arbitrary<HollowPart> =>
  fc
    .record({
      key: partKey(),
      encodedSizeBytes: fc.maxSafeNat(),
      updates: fc.maxSafeNat(),
      keyLower: fc.uint8Array({ maxLength: 100 }),
      diffsSum: fc.option(fc.bigInt({ min: I64_MIN, max: I64_MAX }), { nil: undefined }),
      checksum: fc.oneof(fc.constant(''), hex64.map((h) => `sha256:${h}`)),
    })
    .map(({ diffsSum, ...rest }): HollowPart => (diffsSum === undefined ? { kind: 'hollow', ...rest } : { kind: 'hollow', ...rest, diffsSum }));

export const inlinePart = (): fc.Arbitrary<InlinePart> =>
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((data) => ({ kind: 'inline' as const, data }));

export const part = (): fc.Arbitrary<Part> => fc.oneof(hollowPart(), inlinePart());

export const run = (): fc.Arbitrary<Run> =>
  fc.record({ parts: fc.array(part(), { maxLength: 3 }), order: fc.constantFrom('ordered' as const, 'unordered' as const) });

export const hollowBatch = (dims: number): fc.Arbitrary<HollowBatch> =>
  fc.record({ desc: description(dims), runs: fc.array(run(), { maxLength: 3 }), len: fc.maxSafeNat() });

export const compactRequest = (): fc.Arbitrary<CompactRequest> =>
  fc.integer({ min: 1, max: 3 }).chain((dims) =>
    fc.record({
      shardId: shardId(),
      desc: description(dims),
      inputs: fc.array(hollowBatch(dims), { maxLength: 3 }),
      force: fc.boolean(),
      requestId: fc.string({ maxLength: 20 }),
    }),
  );

export const compactStats = (): fc.Arbitrary<CompactStats> =>
  fc.record({
    inputUpdates: fc.maxSafeNat(),
    outputUpdates: fc.maxSafeNat(),
    inputBytes: fc.maxSafeNat(),
    outputBytes: fc.maxSafeNat(),
    inputRuns: fc.nat({ max: 0xffff_ffff }),
    outputRuns: fc.nat({ max: 0xffff_ffff }),
    chunks: fc.nat({ max: 0xffff_ffff }),
    memoryViolations: fc.nat({ max: 0xffff_ffff }),
    queuedSeconds: fc.double({ min: 0, max: 1e9, noNaN: true, noDefaultInfinity: true }),
    runSeconds: fc.double({ min: 0, max: 1e9, noNaN: true, noDefaultInfinity: true }),
  });

export const compactResponse = (): fc.Arbitrary<CompactResponse> =>
  fc.oneof(
    fc.record({ outcome: fc.constant('compacted' as const), output: fc.integer({ min: 1, max: 3 }).chain(hollowBatch), stats: compactStats() }),
    fc.record({ outcome: fc.constant('skipped' as const), stats: compactStats() }),
  );

/** Updates over a small key/value alphabet so that consolidation has equal (k, v, t) to merge. */
export const update = (dims: number, opts: { maxBytes?: number; diff?: fc.Arbitrary<bigint> } = {}): fc.Arbitrary<Update> =>
  fc.record({
    k: fc.uint8Array({ maxLength: opts.maxBytes ?? 3, max: 3 }),
    v: fc.uint8Array({ maxLength: opts.maxBytes ?? 2, max: 2 }),
    t: timestamp(dims, smallCoord),
    d: opts.diff ?? fc.bigInt({ min: -3n, max: 3n }),
  });
