/**
 * The streaming k-way merge of one chunk: a tournament tree of losers (loser-tree.ts) over the
 * run cursors, ordered by the current row's (k, v, t); rows taken in order are advanced by
 * `since`, equal (k, v, t) are summed, zero sums dropped, and the rest appended to the output
 * builder.
 *
 * The inner loop is synchronous and works on raw column memory. Keys are compared by their first
 * 53 bits held as one exact number per run (the tree's heads, part/validate.ts keyPrefix), bytes
 * only when those are equal; times and diffs are read as 32-bit words, and diffs are summed as
 * doubles while they are exactly representable, falling back to bigint only for huge values.
 * When one run keeps winning, its rows are taken while they stay below the runner-up (one
 * comparison per row, no replay). The loop leaves (to await I/O) only at part boundaries: when a
 * run's next part has not arrived yet, or when the output part is full. A run whose next part is
 * not loaded stays the winner of the tree and the loop stops until it is back, so a (k, v, t)
 * that an unread part could still contain is never emitted.
 *
 * Times: for D = 1, advancing (max with since) is monotone, so rows in (k, v, t) order stay
 * ordered after advancing and equal results are adjacent. For D > 1 it is not (product order vs
 * lexicographic order), so all rows of one (k, v) are buffered, advanced, sorted and
 * consolidated before any is emitted.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { CompactdError, dataLoss } from '../model/errors.js';
import { mapLimit } from '../model/util/concurrency.js';
import { I64_MAX, I64_MIN } from '../model/util/sizes.js';
import type { PartColumns } from '../part/columns.js';
import { compareByteViews as compareBytes, compareRows, keyPrefix, viewOf } from '../part/validate.js';
import type { OutputBuilder } from './builder.js';
import { LoserTree } from './loser-tree.js';
import type { LoadedPart } from './source.js';
import { copyRow } from '../part/rows.js';

/**
 * advance_by in the product order is coordinate-wise: min over f of max(t_j, f_j) equals
 * max(t_j, min over f of f_j). So advancing needs only the coordinate-wise meet of since;
 * undefined for the empty since (times stay as they are).
 */
export function sinceMeet(since: readonly (readonly bigint[])[], dims: number): bigint[] | undefined {
  if (since.length === 0) return undefined;
  const m = since[0].slice(0, dims);
  for (const f of since) for (let j = 0; j < dims; j++) if (f[j] < m[j]) m[j] = f[j];
  return m;
}

const TWO32 = 4294967296;
/** |hi word| below this keeps a diff under 2^52, so a sum of two stays exact in a double. */
const SAFE_HI = 0x100000;
const SAFE_SUM = 2 ** 52;
/** First parts fetched at once when a chunk starts: enough to hide store latency, few enough for S3. */
const INITIAL_FETCHES = 16;

class Cursor {
  cols!: PartColumns;
  k!: Uint8Array;
  kv!: DataView;
  kOff!: Int32Array;
  v!: Uint8Array;
  vv!: DataView;
  vOff!: Int32Array;
  t!: Uint32Array;
  d!: Uint32Array;
  rows: Int32Array | null = null;
  pos = 0;
  end = 0;
  row = 0;
  name = '';
  bytes = 0;

  /** `heads` holds the current row's key prefix at index `run` (Infinity once the run is finished). */
  constructor(
    readonly run: number,
    private readonly heads: Float64Array,
  ) {}

  setPart(p: LoadedPart): void {
    const c = p.cols;
    this.cols = c;
    this.k = c.kData;
    this.kv = viewOf(c.kData);
    this.kOff = c.kOffsets;
    this.v = c.vData;
    this.vv = viewOf(c.vData);
    this.vOff = c.vOffsets;
    this.t = new Uint32Array(c.t.buffer, c.t.byteOffset, c.t.length * 2);
    this.d = new Uint32Array(c.d.buffer, c.d.byteOffset, c.d.length * 2);
    this.rows = p.rows;
    this.pos = 0;
    this.end = p.count;
    this.name = p.name;
    this.bytes = p.bytes;
    if (p.count > 0) this.at(p.rows === null ? 0 : p.rows[0]);
  }

  /** Moves to the next row of the current part; false when the part is exhausted. */
  advance(): boolean {
    const pos = ++this.pos;
    if (pos >= this.end) return false;
    this.at(this.rows === null ? pos : this.rows[pos]);
    return true;
  }

  /** Marks the run finished: it sorts after every live cursor. */
  finish(): void {
    this.heads[this.run] = Infinity;
  }

  private at(row: number): void {
    this.row = row;
    this.heads[this.run] = keyPrefix(this.k, this.kv, this.kOff[row], this.kOff[row + 1]);
  }
}

/** Where the merge gets parts and what it tells about memory. */
export interface MergeInput {
  readonly runs: number;
  /** The next part of run r if it is already loaded, else undefined. */
  takeReady(r: number): LoadedPart | undefined;
  /** The next part of run r, waiting for it. */
  next(r: number): Promise<LoadedPart>;
  hasMore(r: number): boolean;
  /** Called whenever a run moves past a part (to release its memory and start prefetches). */
  released(bytes: number): void;
}

export interface MergeOutput {
  readonly builder: OutputBuilder;
  readonly targetPartBytes: number;
  /** Flushes the builder's rows as one part. */
  flush(): Promise<void>;
  /** Throws if the compaction was cancelled; called at part boundaries. */
  checkpoint(): void;
}

export interface MergeResult {
  readonly rowsIn: number;
}

export class ChunkMerge {
  private readonly cursors: Cursor[];
  /** Orders the cursors by their current rows (heads: key prefixes, then lessTied). */
  private readonly tree: LoserTree;
  private readonly heads: Float64Array;
  private readonly dims: number;
  private readonly tw: number;
  /** Coordinate-wise meet of `since` as 32-bit words (advance_by of the product order is max with it). */
  private readonly sinceWords: Uint32Array;
  private readonly advancing: boolean;
  private rowsIn = 0;

  // The group being accumulated: its (k, v) (and for D = 1 its advanced t) and diff sum.
  private hasGroup = false;
  /** The group key's prefix, in a slot of its own: a number field would box it. */
  private readonly gp = new Float64Array(1);
  private gk!: Uint8Array;
  private gkv!: DataView;
  private gks = 0;
  private gke = 0;
  private gv!: Uint8Array;
  private gvv!: DataView;
  private gvs = 0;
  private gve = 0;
  /** D = 1: the group's advanced time as low and high words. */
  private gtlo = 0;
  private gthi = 0;
  private sum = 0;
  private bigSum: bigint | null = null;
  /** The finished sum as words (finishSum). */
  private sumLo = 0;
  private sumHi = 0;

  // D > 1: the buffered rows of the current (k, v): advanced time words and diff words.
  private bufT = new Uint32Array(64);
  private bufD = new Uint32Array(32);
  private bufN = 0;
  private order = new Int32Array(16);

  // The last row of the previous part of each run, to check order across parts.
  private readonly tails: (PartColumns | undefined)[];

  constructor(
    private readonly input: MergeInput,
    private readonly output: MergeOutput,
    dims: number,
    /** Coordinate-wise meet of the output since; undefined for the empty since (no advancing). */
    meet: readonly bigint[] | undefined,
  ) {
    this.dims = dims;
    this.tw = 2 * dims;
    this.cursors = [];
    this.tree = new LoserTree(Math.max(1, input.runs), (a, b) => this.lessTied(this.cursors[a], this.cursors[b]));
    this.heads = this.tree.heads;
    for (let r = 0; r < input.runs; r++) this.cursors.push(new Cursor(r, this.heads));
    this.tails = this.cursors.map(() => undefined);
    this.advancing = meet !== undefined;
    this.sinceWords = new Uint32Array(this.tw);
    if (meet !== undefined) {
      for (let j = 0; j < dims; j++) {
        this.sinceWords[2 * j] = Number(meet[j] & 0xffffffffn);
        this.sinceWords[2 * j + 1] = Number(meet[j] >> 32n);
      }
    }
    this.bufT = new Uint32Array(16 * this.tw);
  }

  async run(): Promise<MergeResult> {
    // Every run needs its first part before the first row can be emitted: fetch them together.
    const ready = new Array<boolean>(this.cursors.length).fill(false);
    await mapLimit(this.cursors, INITIAL_FETCHES, async (c) => {
      ready[c.run] = await this.load(c);
    });
    for (const c of this.cursors) if (!ready[c.run]) c.finish();
    if (this.cursors.length > 0) {
      this.tree.build();
      while (this.heads[this.tree.winner] !== Infinity) {
        this.output.checkpoint();
        const stalled = this.step();
        if (this.output.builder.estimatedBytes >= this.output.targetPartBytes) await this.output.flush();
        if (stalled !== undefined) {
          // The stalled run is still the winner: its next row (or its end) only moves it up.
          if (!(await this.load(stalled))) stalled.finish();
          this.tree.replay();
        } else {
          // A macrotask turn at every part boundary lets finished uploads and prefetches land and
          // abort messages arrive; awaiting promises alone would only run microtasks.
          await yieldToEventLoop();
        }
      }
    }
    this.closeGroup();
    if (this.output.builder.rows > 0) await this.output.flush();
    return { rowsIn: this.rowsIn };
  }

  /**
   * Loads parts into `c` until it has a row (skipping empty parts). False when the run is done.
   */
  private async load(c: Cursor): Promise<boolean> {
    for (;;) {
      if (c.bytes > 0) {
        this.input.released(c.bytes);
        c.bytes = 0;
      }
      if (!this.input.hasMore(c.run)) return false;
      const p = this.input.takeReady(c.run) ?? (await this.input.next(c.run));
      if (this.enter(c, p)) return true;
    }
  }

  /** Installs part `p` in `c`; false if it has no rows to read. Checks order across the boundary. */
  private enter(c: Cursor, p: LoadedPart): boolean {
    const tail = this.tails[c.run];
    c.setPart(p);
    if (p.count === 0) return false;
    if (tail !== undefined && compareRows(tail, 0, p.cols, c.row) >= 0) {
      throw dataLoss(`part ${p.name} is out of order with the previous part of its run`);
    }
    const last = p.rows === null ? p.count - 1 : p.rows[p.count - 1];
    this.tails[c.run] = copyRow(p.cols, last);
    // Every row of an entered part is consumed before the merge ends (or fails).
    this.rowsIn += p.count;
    return true;
  }

  /**
   * Consumes rows until every run is finished, the output part is full, a run moved to its next
   * part, or a run needs a part that has not arrived (returned; it stays the tree's winner).
   */
  private step(): Cursor | undefined {
    const tree = this.tree;
    const cursors = this.cursors;
    const builder = this.output.builder;
    const target = this.output.targetPartBytes;
    const d1 = this.dims === 1;
    const heads = this.heads;
    let c = cursors[tree.winner];
    // While c keeps winning: the least other run, which c's rows are compared with instead of
    // replaying the tree (the tree stays valid: only the winner moved, and it still wins).
    // -1: unknown; the tree's slot n (head Infinity) when there is no other run.
    let rival = -1;
    while (heads[c.run] !== Infinity) {
      if (d1) this.ingest1(c);
      else this.ingestN(c);
      if (c.advance()) {
        if (rival < 0 || !tree.less(c.run, rival)) {
          tree.replay();
          const w = tree.winner;
          if (w === c.run) {
            rival = tree.runnerUp();
          } else {
            rival = -1;
            c = cursors[w];
          }
        }
      } else {
        // Part boundary: continue at once if the next part is here, else leave to wait for it.
        if (c.bytes > 0) {
          this.input.released(c.bytes);
          c.bytes = 0;
        }
        let resumed = false;
        while (this.input.hasMore(c.run)) {
          const p = this.input.takeReady(c.run);
          if (p === undefined) break;
          if (this.enter(c, p)) {
            resumed = true;
            break;
          }
          this.input.released(p.bytes);
          c.bytes = 0;
        }
        if (resumed) {
          tree.replay();
          return undefined;
        }
        if (this.input.hasMore(c.run)) return c;
        c.finish();
        tree.replay();
        c = cursors[tree.winner];
        rival = -1;
        if (builder.estimatedBytes >= target) return undefined;
        continue;
      }
      if (builder.estimatedBytes >= target) return undefined;
    }
    return undefined;
  }

  /** Starts a group at the key and value of cursor `c`'s current row. */
  private startGroup(c: Cursor, ks: number, ke: number, vs: number, ve: number): void {
    this.hasGroup = true;
    this.gp[0] = this.heads[c.run];
    this.gk = c.k;
    this.gkv = c.kv;
    this.gks = ks;
    this.gke = ke;
    this.gv = c.v;
    this.gvv = c.vv;
    this.gvs = vs;
    this.gve = ve;
  }

  /**
   * Ends the running diff sum: false when it is zero (nothing to emit); otherwise its low and high
   * words are in sumLo and sumHi. OUT_OF_RANGE when it left the i64 range.
   */
  private finishSum(): boolean {
    if (this.bigSum === null) {
      const sum = this.sum;
      if (sum === 0) return false;
      if (sum === (sum | 0)) {
        // The usual diff (a small count) fits 32 bits: no division.
        this.sumLo = sum >>> 0;
        this.sumHi = sum < 0 ? -1 : 0;
      } else {
        this.sumHi = Math.floor(sum / TWO32);
        this.sumLo = sum - this.sumHi * TWO32;
      }
      return true;
    }
    const s = this.bigSum;
    if (s < I64_MIN || s > I64_MAX) throw overflow();
    if (s === 0n) return false;
    this.sumLo = Number(BigInt.asUintN(32, s));
    this.sumHi = Number(BigInt.asIntN(32, s >> 32n));
    return true;
  }

  // ---- D = 1 ----

  private ingest1(c: Cursor): void {
    const r = c.row;
    let tlo = c.t[2 * r];
    let thi = c.t[2 * r + 1];
    if (this.advancing) {
      const slo = this.sinceWords[0];
      const shi = this.sinceWords[1];
      if (thi < shi || (thi === shi && tlo < slo)) {
        tlo = slo;
        thi = shi;
      }
    }
    const ks = c.kOff[r];
    const ke = c.kOff[r + 1];
    const vs = c.vOff[r];
    const ve = c.vOff[r + 1];
    const dlo = c.d[2 * r];
    const dhi = c.d[2 * r + 1] | 0;
    if (
      this.hasGroup &&
      this.gp[0] === this.heads[c.run] &&
      this.gtlo === tlo &&
      this.gthi === thi &&
      bytesEqual(this.gk, this.gkv, this.gks, this.gke, c.k, c.kv, ks, ke) &&
      bytesEqual(this.gv, this.gvv, this.gvs, this.gve, c.v, c.vv, vs, ve)
    ) {
      this.addDiff(dlo, dhi);
      return;
    }
    if (this.hasGroup) this.emitGroup1();
    this.startGroup(c, ks, ke, vs, ve);
    this.gtlo = tlo;
    this.gthi = thi;
    this.bigSum = null;
    if (dhi >= -SAFE_HI && dhi < SAFE_HI) this.sum = dhi * TWO32 + dlo;
    else {
      this.sum = 0;
      this.bigSum = toBig(dlo, dhi);
    }
  }

  private emitGroup1(): void {
    this.hasGroup = false;
    if (!this.finishSum()) return;
    this.output.builder.append1(this.gk, this.gkv, this.gks, this.gke, this.gv, this.gvv, this.gvs, this.gve, this.gtlo, this.gthi, this.sumLo, this.sumHi);
  }

  private addDiff(dlo: number, dhi: number): void {
    if (this.bigSum === null && dhi >= -SAFE_HI && dhi < SAFE_HI) {
      const s = this.sum + (dhi * TWO32 + dlo);
      if (s > -SAFE_SUM && s < SAFE_SUM) {
        this.sum = s;
        return;
      }
    }
    this.bigSum = (this.bigSum ?? BigInt(this.sum)) + toBig(dlo, dhi);
  }

  // ---- D > 1 ----

  private ingestN(c: Cursor): void {
    const r = c.row;
    const ks = c.kOff[r];
    const ke = c.kOff[r + 1];
    const vs = c.vOff[r];
    const ve = c.vOff[r + 1];
    if (
      !this.hasGroup ||
      this.gp[0] !== this.heads[c.run] ||
      !bytesEqual(this.gk, this.gkv, this.gks, this.gke, c.k, c.kv, ks, ke) ||
      !bytesEqual(this.gv, this.gvv, this.gvs, this.gve, c.v, c.vv, vs, ve)
    ) {
      if (this.hasGroup) this.emitGroupN();
      this.startGroup(c, ks, ke, vs, ve);
      this.bufN = 0;
    }
    const n = this.bufN++;
    const tw = this.tw;
    if ((n + 1) * tw > this.bufT.length) {
      const t = new Uint32Array(this.bufT.length * 2);
      t.set(this.bufT);
      this.bufT = t;
      const d = new Uint32Array(this.bufD.length * 2);
      d.set(this.bufD);
      this.bufD = d;
    }
    const src = r * tw;
    const dst = n * tw;
    const s = this.sinceWords;
    for (let j = 0; j < tw; j += 2) {
      let lo = c.t[src + j];
      let hi = c.t[src + j + 1];
      if (this.advancing && (hi < s[j + 1] || (hi === s[j + 1] && lo < s[j]))) {
        lo = s[j];
        hi = s[j + 1];
      }
      this.bufT[dst + j] = lo;
      this.bufT[dst + j + 1] = hi;
    }
    this.bufD[2 * n] = c.d[2 * r];
    this.bufD[2 * n + 1] = c.d[2 * r + 1];
  }

  /** Sorts the buffered rows of one (k, v) by advanced time and emits the non-zero sums. */
  private emitGroupN(): void {
    this.hasGroup = false;
    const n = this.bufN;
    if (this.order.length < n) this.order = new Int32Array(Math.max(n, this.order.length * 2));
    const order = this.order.subarray(0, n);
    for (let i = 0; i < n; i++) order[i] = i;
    const t = this.bufT;
    const tw = this.tw;
    if (n > 1) order.sort((a, b) => compareTimeWords(t, a * tw, t, b * tw, tw));
    let i = 0;
    while (i < n) {
      const first = order[i];
      this.sum = 0;
      this.bigSum = null;
      let j = i;
      while (j < n && compareTimeWords(t, order[j] * tw, t, first * tw, tw) === 0) {
        const x = order[j];
        const dlo = this.bufD[2 * x];
        const dhi = this.bufD[2 * x + 1] | 0;
        this.addDiff(dlo, dhi);
        j++;
      }
      if (this.finishSum()) {
        this.output.builder.append(this.gk, this.gkv, this.gks, this.gke, this.gv, this.gvv, this.gvs, this.gve, t, first * tw, this.sumLo, this.sumHi);
      }
      i = j;
    }
    this.bufN = 0;
  }

  private closeGroup(): void {
    if (!this.hasGroup) return;
    if (this.dims === 1) this.emitGroup1();
    else this.emitGroupN();
  }

  // ---- order ----

  /**
   * The order of two cursors whose current rows have equal key prefixes: (k, v, stored t), ties
   * broken by run index for determinism; two finished cursors by run index.
   */
  private lessTied(a: Cursor, b: Cursor): boolean {
    if (this.heads[a.run] === Infinity) return a.run < b.run;
    const ra = a.row;
    const rb = b.row;
    let c = compareBytes(a.k, a.kv, a.kOff[ra], a.kOff[ra + 1], b.k, b.kv, b.kOff[rb], b.kOff[rb + 1]);
    if (c === 0) c = compareBytes(a.v, a.vv, a.vOff[ra], a.vOff[ra + 1], b.v, b.vv, b.vOff[rb], b.vOff[rb + 1]);
    if (c === 0) c = compareTimeWords(a.t, ra * this.tw, b.t, rb * this.tw, this.tw);
    if (c === 0) return a.run < b.run;
    return c < 0;
  }
}

function bytesEqual(a: Uint8Array, av: DataView, as: number, ae: number, b: Uint8Array, bv: DataView, bs: number, be: number): boolean {
  const n = ae - as;
  if (n !== be - bs) return false;
  let i = 0;
  for (; i + 4 <= n; i += 4) if (av.getUint32(as + i, true) !== bv.getUint32(bs + i, true)) return false;
  for (; i < n; i++) if (a[as + i] !== b[bs + i]) return false;
  return true;
}

/** Lexicographic order of two times given as little-endian word pairs per coordinate. */
function compareTimeWords(a: Uint32Array, ao: number, b: Uint32Array, bo: number, tw: number): number {
  for (let j = 0; j < tw; j += 2) {
    const ah = a[ao + j + 1];
    const bh = b[bo + j + 1];
    if (ah !== bh) return ah < bh ? -1 : 1;
    const al = a[ao + j];
    const bl = b[bo + j];
    if (al !== bl) return al < bl ? -1 : 1;
  }
  return 0;
}

function toBig(lo: number, hi: number): bigint {
  return BigInt(hi) * 4294967296n + BigInt(lo);
}

function overflow(): CompactdError {
  return new CompactdError('out_of_range', 'diff sum leaves the i64 range');
}
