/**
 * The output builder's buffer lifecycle: a part's columns are views of buffers that go out with
 * it and stay untouched while later parts are built; given back, they are filled again.
 */
import { describe, expect, it } from 'vitest';
import { OutputBuilder } from '../../src/compact/builder.js';
import type { PartColumns } from '../../src/part/columns.js';
import { updatesFromColumns } from '../../src/part/rows.js';
import type { Update } from '../../src/model/update.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Appends `n` rows `<tag>-<i>` (one source buffer per row, so each is copied on its own). */
function fill(b: OutputBuilder, tag: string, n: number): Update[] {
  const rows: Update[] = [];
  for (let i = 0; i < n; i++) {
    const k = enc(`${tag}-key-${String(i).padStart(4, '0')}`);
    const v = enc(`${tag}-value-${i}`);
    b.append1(k, new DataView(k.buffer), 0, k.length, v, new DataView(v.buffer), 0, v.length, i, 0, 1, 0);
    rows.push({ k, v, t: [BigInt(i)], d: 1n });
  }
  return rows;
}

const buffersOf = (c: PartColumns) => [c.kOffsets.buffer, c.kData.buffer, c.vOffsets.buffer, c.vData.buffer, c.t.buffer, c.d.buffer];

describe('OutputBuilder buffers', () => {
  it('a taken part stays intact while the next parts are built: the builder moves to other buffers', () => {
    const b = new OutputBuilder(1, 4096);
    const first = fill(b, 'a', 200);
    const a = b.take();
    const second = fill(b, 'b', 300);
    const c = b.take();
    fill(b, 'c', 250);
    expect(updatesFromColumns(a)).toEqual(first);
    expect(updatesFromColumns(c)).toEqual(second);
    const shared = buffersOf(a).filter((buf) => buffersOf(c).includes(buf));
    expect(shared).toEqual([]);
  });

  it('builds a later part in the buffers given back, one set at most; columns it did not hand out are ignored', () => {
    const b = new OutputBuilder(1, 4096);
    fill(b, 'a', 50);
    const a = b.take();
    fill(b, 'b', 50);
    const c = b.take();
    b.recycle(a);
    b.recycle(c); // over the one spare set: dropped
    b.recycle({ ...a }); // not a part this builder handed out
    const third = fill(b, 'c', 40);
    const d = b.take();
    expect(buffersOf(d)).toEqual(buffersOf(a));
    expect(updatesFromColumns(d)).toEqual(third);
    fill(b, 'd', 40);
    const e = b.take();
    for (const buf of buffersOf(e)) expect([...buffersOf(a), ...buffersOf(c)]).not.toContain(buf);
  });

  it('takes an empty part, and a part after it, with well-formed offsets', () => {
    const b = new OutputBuilder(2);
    const empty = b.take();
    expect(empty.len).toBe(0);
    expect(Array.from(empty.kOffsets)).toEqual([0]);
    expect(Array.from(empty.vOffsets)).toEqual([0]);
    const again = b.take();
    expect(Array.from(again.kOffsets)).toEqual([0]);
    const k = enc('k');
    const v = enc('v');
    b.append(k, new DataView(k.buffer), 0, 1, v, new DataView(v.buffer), 0, 1, new Uint32Array([1, 0, 2, 0]), 0, 5, 0);
    const one = b.take();
    expect(updatesFromColumns(one)).toEqual([{ k, v, t: [1n, 2n], d: 5n }]);
  });

  it('grows past its presized capacity within a part and gives the grown buffers out whole', () => {
    const b = new OutputBuilder(1, 0);
    const rows = fill(b, 'g', 5000); // beyond the initial 1024 rows and 64 KiB of keys
    const a = b.take();
    expect(updatesFromColumns(a)).toEqual(rows);
    b.recycle(a);
    const more = fill(b, 'h', 5000);
    const c = b.take();
    expect(c.kData.buffer).toBe(a.kData.buffer);
    expect(updatesFromColumns(c)).toEqual(more);
  });

  it('sizes a fresh set from what the last part used, not for the worst case of the target', () => {
    const target = 64 * 1024 * 1024;
    const b = new OutputBuilder(1, target);
    fill(b, 'a', 3000);
    const a = b.take();
    const used = a.kData.byteLength + a.vData.byteLength;
    fill(b, 'b', 3000);
    const c = b.take();
    const total = buffersOf(c).reduce((n, buf) => n + buf.byteLength, 0);
    // Same rows again: within the slack of what the first part used (plus the minimum sizes).
    expect(total).toBeLessThan(2 * (used + 3001 * 24) + 256 * 1024);
    expect(total).toBeLessThan(target / 8);
  });
});
