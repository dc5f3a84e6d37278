import {
  Binary,
  CompressionType,
  Field,
  FixedSizeList,
  Int32,
  Int64,
  LargeBinary,
  Uint64,
  Utf8,
  makeData,
  tableFromIPC,
  tableToIPC,
  type Data,
} from 'apache-arrow';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { CompactdError } from '../../src/model/errors.js';
import { ensureCodecs } from '../../src/part/codecs.js';
import { decodePart } from '../../src/part/decode.js';
import { encodePart } from '../../src/part/encode.js';
import { columnsFromUpdates } from '../../src/part/rows.js';
import { anyUpdate, arrowFile, caught, metaJson, metaOf, withMeta } from './util.js';

const NAME = 'shard1/c0/p42';

function expectDataLoss(bytes: Uint8Array, detail?: RegExp): void {
  const err = caught(() => decodePart(bytes, NAME));
  expect(err.kind).toBe('data_loss');
  expect(err.message).toContain(NAME);
  if (detail) expect(err.message).toMatch(detail);
}

/**
 * Damaged parts may still decode when the damage hit padding or unused bytes; what must never
 * happen is another kind of error, a hang, or columns that are unsafe to index.
 */
function decodesSafely(bytes: Uint8Array): void {
  let cols;
  try {
    cols = decodePart(bytes, NAME).cols;
  } catch (err) {
    expect(err).toBeInstanceOf(CompactdError);
    expect((err as CompactdError).kind).toBe('data_loss');
    expect((err as CompactdError).message).toContain(NAME);
    return;
  }
  expect(cols.kOffsets.length).toBe(cols.len + 1);
  expect(cols.vOffsets.length).toBe(cols.len + 1);
  expect(cols.kOffsets[cols.len]).toBeLessThanOrEqual(cols.kData.length);
  expect(cols.vOffsets[cols.len]).toBeLessThanOrEqual(cols.vData.length);
  for (let i = 0; i < cols.len; i++) {
    expect(cols.kOffsets[i]).toBeLessThanOrEqual(cols.kOffsets[i + 1]);
    expect(cols.vOffsets[i]).toBeLessThanOrEqual(cols.vOffsets[i + 1]);
  }
  expect(cols.t.length).toBe(cols.len * cols.dims);
  expect(cols.d.length).toBe(cols.len);
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const updates = [
  { k: enc('apple'), v: enc('red'), t: [1n, 5n], d: 1n },
  { k: enc('banana'), v: enc('yellow'), t: [2n, 3n], d: -2n },
  { k: enc('cherry'), v: enc(''), t: [3n, 1n], d: 7n },
];
const good2 = encodePart(columnsFromUpdates(updates, 2), metaOf(2));

// Column builders for hand-made (malformed) parts, 3 rows each.
const binary = (): Data => makeData({ type: new Binary(), length: 3, nullCount: 0, valueOffsets: Int32Array.of(0, 1, 2, 3), data: enc('abc') });
const u64 = (n = 3): Data => makeData({ type: new Uint64(), length: n, nullCount: 0, data: new BigUint64Array(n).fill(4n) });
const i64 = (): Data => makeData({ type: new Int64(), length: 3, nullCount: 0, data: BigInt64Array.of(1n, 2n, 3n) });
const fsl = (size: number, childNullable = false): Data => {
  const type = new FixedSizeList<Uint64>(size, new Field('item', new Uint64(), childNullable));
  return makeData({ type, length: 3, nullCount: 0, child: u64(3 * size) as Data<Uint64> });
};
const field = (name: string, type: Data['type'], nullable = false): Field => new Field(name, type, nullable);
const goodFields = (): Field[] => [field('k', new Binary()), field('v', new Binary()), field('t', new Uint64()), field('d', new Int64())];
const goodColumns = (): Data[] => [binary(), binary(), u64(), i64()];

beforeAll(async () => {
  await ensureCodecs();
});

describe('decodePart rejects non-Arrow-file input', () => {
  it('sanity: the hand-made good part decodes', () => {
    const part = decodePart(arrowFile(goodFields(), goodColumns(), withMeta()), NAME);
    expect(part.cols.len).toBe(3);
    expect(decodePart(good2, NAME).cols.len).toBe(3);
  });

  it('truncated bytes', () => {
    for (let n = 0; n < good2.length; n++) expectDataLoss(good2.subarray(0, n));
  });

  it('a chunk cut out of the middle, both magics kept', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 64 }), (at, len) => {
        const start = 8 + (at % (good2.length - 16 - len));
        const cut = new Uint8Array(good2.length - len);
        cut.set(good2.subarray(0, start));
        cut.set(good2.subarray(start + len), start);
        decodesSafely(cut);
      }),
      { numRuns: 300 },
    );
  });

  it('random bytes, with and without the magic around them', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.boolean(), (body, magic) => {
        if (!magic) return expectDataLoss(body);
        const m = enc('ARROW1');
        const bytes = new Uint8Array(8 + body.length + m.length);
        bytes.set(m, 0);
        bytes.set(body, 8);
        bytes.set(m, 8 + body.length);
        expectDataLoss(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('flipped magic at either end', () => {
    for (const at of [0, 3, 5, good2.length - 6, good2.length - 1]) {
      const bytes = good2.slice();
      bytes[at] ^= 0x20;
      expectDataLoss(bytes, /not an Arrow IPC file/);
    }
  });

  it('the Arrow IPC stream format', () => {
    expectDataLoss(tableToIPC(tableFromIPC(good2), 'stream'), /not an Arrow IPC file/);
  });

  it('random corruption anywhere inside decodes to valid columns or fails as data loss', () => {
    const zstd = encodePart(columnsFromUpdates(updates, 2), metaOf(2), { compression: 'zstd' });
    const lz4 = tableToIPC(tableFromIPC(good2), 'file', CompressionType.LZ4_FRAME);
    fc.assert(
      fc.property(
        fc.constantFrom(good2, zstd, lz4),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        (original, flips) => {
          const bytes = original.slice();
          for (const [at, x] of flips) bytes[6 + (at % (bytes.length - 12))] ^= x;
          decodesSafely(bytes);
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('decodePart rejects wrong schemas', () => {
  const replace = (name: string, f: Field, data: Data): Uint8Array => {
    const fields = goodFields();
    const cols = goodColumns();
    const i = fields.findIndex((x) => x.name === name);
    fields[i] = f;
    cols[i] = data;
    return arrowFile(fields, cols, withMeta());
  };

  it('wrong field types', () => {
    const utf8 = makeData({ type: new Utf8(), length: 3, nullCount: 0, valueOffsets: Int32Array.of(0, 1, 2, 3), data: enc('abc') });
    const large = makeData({ type: new LargeBinary(), length: 3, nullCount: 0, valueOffsets: BigInt64Array.of(0n, 1n, 2n, 3n), data: enc('abc') });
    const i32 = makeData({ type: new Int32(), length: 3, nullCount: 0, data: Int32Array.of(1, 2, 3) });
    const asI64 = makeData({ type: new Int64(), length: 3, nullCount: 0, data: BigInt64Array.of(1n, 2n, 3n) });
    expectDataLoss(replace('k', field('k', new Utf8()), utf8), /field k has type/);
    expectDataLoss(replace('v', field('v', new LargeBinary()), large), /field v has type/);
    expectDataLoss(replace('d', field('d', new Int32()), i32), /field d has type/);
    expectDataLoss(replace('d', field('d', new Uint64()), u64()), /field d has type/);
    expectDataLoss(replace('t', field('t', new Int64()), asI64), /field t has type/);
  });

  it('nullable fields', () => {
    for (const name of ['k', 'v', 't', 'd']) {
      const fields = goodFields().map((f) => (f.name === name ? new Field(f.name, f.type, true) : f));
      expectDataLoss(arrowFile(fields, goodColumns(), withMeta()), new RegExp(`field ${name} is nullable`));
    }
  });

  it('missing, extra and duplicate fields', () => {
    const fields = goodFields();
    const cols = goodColumns();
    expectDataLoss(arrowFile(fields.slice(0, 3), cols.slice(0, 3), withMeta()), /missing field d/);
    expectDataLoss(arrowFile([...fields, field('x', new Int64())], [...cols, i64()], withMeta()), /unexpected field "x"/);
    expectDataLoss(arrowFile([...fields, field('k', new Binary())], [...cols, binary()], withMeta()), /duplicate field k/);
  });

  it('accepts the fields in another order', () => {
    const fields = goodFields().reverse();
    const part = decodePart(arrowFile(fields, goodColumns().reverse(), withMeta()), NAME);
    expect(Array.from(part.cols.d)).toEqual([1n, 2n, 3n]);
  });

  it('dims mismatch between metadata and the t column', () => {
    const withT = (f: Field, data: Data, json: string): Uint8Array => {
      const fields = goodFields();
      const cols = goodColumns();
      fields[2] = f;
      cols[2] = data;
      return arrowFile(fields, cols, withMeta(json));
    };
    expectDataLoss(withT(field('t', new Uint64()), u64(), metaJson(2)), /field t has type/);
    expectDataLoss(withT(field('t', fsl(2).type), fsl(2), metaJson(3)), /list of 2 coordinates, metadata says dims = 3/);
    expectDataLoss(withT(field('t', fsl(2).type), fsl(2), metaJson(1)), /field t has type/);
    expectDataLoss(withT(field('t', fsl(1).type), fsl(1), metaJson(1)), /expected Uint64/);
    expectDataLoss(withT(field('t', fsl(2, true).type), fsl(2, true), metaJson(2)), /nullable coordinates/);
    // The same shapes with matching metadata are fine.
    expect(decodePart(withT(field('t', fsl(2).type), fsl(2), metaJson(2)), NAME).cols.t.length).toBe(6);
  });

  it('nulls in the t column (or any column) despite a non-nullable field', () => {
    const nullBitmap = Uint8Array.of(0b101);
    const tNull = makeData({ type: new Uint64(), length: 3, nullCount: 1, nullBitmap, data: new BigUint64Array(3) });
    expectDataLoss(replace('t', field('t', new Uint64()), tNull), /column t holds nulls/);
    const dNull = makeData({ type: new Int64(), length: 3, nullCount: 1, nullBitmap, data: new BigInt64Array(3) });
    expectDataLoss(replace('d', field('d', new Int64()), dNull), /column d holds nulls/);
    const child = makeData({ type: new Uint64(), length: 6, nullCount: 2, nullBitmap: Uint8Array.of(0b110011), data: new BigUint64Array(6) });
    const list = makeData({ type: new FixedSizeList(2, new Field('item', new Uint64(), false)), length: 3, nullCount: 0, child });
    const fields = goodFields();
    const cols = goodColumns();
    fields[2] = field('t', list.type);
    cols[2] = list;
    expectDataLoss(arrowFile(fields, cols, withMeta(metaJson(2))), /column t coordinate holds nulls/);
  });

  it('binary offsets out of bounds or decreasing', () => {
    const past = makeData({ type: new Binary(), length: 3, nullCount: 0, valueOffsets: Int32Array.of(0, 1, 2, 40), data: enc('abc') });
    expectDataLoss(replace('k', field('k', new Binary()), past), /column k offsets out of bounds/);
    const down = makeData({ type: new Binary(), length: 3, nullCount: 0, valueOffsets: Int32Array.of(0, 3, 1, 3), data: enc('abc') });
    expectDataLoss(replace('v', field('v', new Binary()), down), /column v offsets out of bounds/);
  });
});

describe('decodePart rejects bad metadata', () => {
  const file = (json: string | undefined): Uint8Array =>
    arrowFile(goodFields(), goodColumns(), json === undefined ? undefined : withMeta(json));
  const meta = (patch: Record<string, unknown>): string => JSON.stringify({ ...JSON.parse(metaJson(1)), ...patch });

  it('missing metadata', () => {
    expectDataLoss(file(undefined), /missing compactd.part/);
    expectDataLoss(arrowFile(goodFields(), goodColumns(), new Map([['other', '{}']])), /missing compactd.part/);
  });

  it('malformed metadata', () => {
    expectDataLoss(file('not json'), /not JSON/);
    expectDataLoss(file('[1]'), /not a JSON object/);
    expectDataLoss(file(meta({ version: 2 })), /unsupported version 2/);
    expectDataLoss(file(meta({ version: '1' })), /unsupported version/);
    expectDataLoss(file(meta({ dims: 0 })), /dims must be an integer >= 1/);
    expectDataLoss(file(meta({ dims: 1.5 })), /dims must be an integer >= 1/);
    expectDataLoss(file(meta({ index: -1 })), /index/);
    expectDataLoss(file(meta({ desc: undefined })), /desc is missing/);
    expectDataLoss(file(meta({ desc: { lower: [['0']], upper: [], since: [[0]] } })), /not a u64 decimal string/);
    expectDataLoss(file(meta({ desc: { lower: [['0', '1']], upper: [], since: [] } })), /not a list of 1 coordinates/);
    expectDataLoss(file(meta({ desc: { lower: [['18446744073709551616']], upper: [], since: [] } })), /outside u64/);
    expectDataLoss(file(meta({ desc: { lower: [['-1']], upper: [], since: [] } })), /not a u64 decimal string/);
    expectDataLoss(file(meta({ desc: { lower: [['0']], upper: {}, since: [] } })), /desc.upper is not a list/);
  });

  it('rejects random updates with mismatching metadata dims', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.array(anyUpdate(3), { maxLength: 5 }), (dt, dm, us) => {
        fc.pre(dt !== dm);
        const cols = columnsFromUpdates(us.map((u) => ({ ...u, t: u.t.slice(0, dt) })), dt);
        const table = tableFromIPC(encodePart(cols, metaOf(dt)));
        const bytes = arrowFile(table.schema.fields, table.batches[0].data.children, withMeta(metaJson(dm)));
        expectDataLoss(bytes, /field t/);
      }),
      { numRuns: 30 },
    );
  });
});
