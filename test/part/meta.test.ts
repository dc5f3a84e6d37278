import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { descEquals } from '../../src/model/description.js';
import { U64_MAX } from '../../src/model/timestamp.js';
import type { PartMeta } from '../../src/part/columns.js';
import { decodeMeta, encodeMeta } from '../../src/part/meta.js';
import { caught, partMeta } from './util.js';

describe('part metadata JSON', () => {
  it('round-trips', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }).chain(partMeta), (meta) => {
        const back = decodeMeta(encodeMeta(meta), 'p');
        expect(back).toEqual(meta); // the generator yields antichains in normal form
        expect(descEquals(back.desc, meta.desc)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('writes the contract layout, timestamps as decimal strings', () => {
    const meta: PartMeta = {
      version: 1,
      dims: 2,
      desc: { lower: [[0n, 3n]], upper: [[U64_MAX, 1n], [4n, 2n]], since: [] },
      index: 12,
    };
    expect(JSON.parse(encodeMeta(meta))).toEqual({
      version: 1,
      dims: 2,
      desc: { lower: [['0', '3']], upper: [['18446744073709551615', '1'], ['4', '2']], since: [] },
      index: 12,
    });
  });

  it('reads antichains in normal form and ignores unknown fields', () => {
    const json = JSON.stringify({
      version: 1,
      dims: 1,
      desc: { lower: [['5'], ['3'], ['3']], upper: [], since: [['0']] },
      index: 0,
      writer: 'someone else',
    });
    expect(decodeMeta(json, 'p').desc.lower).toEqual([[3n]]);
  });

  it('rejects malformed JSON as data loss naming the part', () => {
    const base = { version: 1, dims: 1, desc: { lower: [['0']], upper: [], since: [] }, index: 0 };
    const bad: [unknown, RegExp][] = [
      [{ ...base, version: 2 }, /unsupported version 2/],
      [{ ...base, dims: 0 }, /dims/],
      [{ ...base, dims: '1' }, /dims/],
      [{ ...base, index: 1.5 }, /index/],
      [{ ...base, index: undefined }, /index/],
      [{ ...base, desc: [] }, /desc is missing/],
      [{ ...base, desc: { ...base.desc, since: undefined } }, /desc.since is not a list/],
      [{ ...base, desc: { ...base.desc, lower: [['01']] } }, /not a u64 decimal string/],
      [{ ...base, desc: { ...base.desc, lower: [['1e3']] } }, /not a u64 decimal string/],
      [{ ...base, desc: { ...base.desc, lower: [[]] } }, /not a list of 1 coordinates/],
      [{ ...base, desc: { ...base.desc, lower: ['0'] } }, /not a list of 1 coordinates/],
    ];
    for (const [doc, why] of bad) {
      const err = caught(() => decodeMeta(JSON.stringify(doc), 'shard/p9'));
      expect(err.kind).toBe('data_loss');
      expect(err.message).toContain('shard/p9');
      expect(err.message).toMatch(why);
    }
    expect(caught(() => decodeMeta('{"version":1', 'p')).message).toMatch(/not JSON/);
  });

  it('refuses to write metadata that could not be read back', () => {
    const ok: PartMeta = { version: 1, dims: 1, desc: { lower: [[0n]], upper: [], since: [] }, index: 0 };
    const bad: PartMeta[] = [
      { ...ok, dims: 0 },
      { ...ok, dims: 2 },
      { ...ok, index: -1 },
      { ...ok, desc: { ...ok.desc, upper: [[U64_MAX + 1n]] } },
      { ...ok, desc: { ...ok.desc, since: [[1n], [2n]] } },
      { ...ok, version: 2 as 1 },
    ];
    for (const meta of bad) expect(caught(() => encodeMeta(meta)).kind).toBe('invalid');
  });
});
