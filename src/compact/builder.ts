/**
 * Accumulates merged output rows into growable columnar buffers and hands them out as a part's
 * columns when the part reaches its target size. Rows are appended by copying raw bytes and
 * 32-bit words: no per-row objects, no bigints.
 *
 * The buffers of a part go out with it: the encoder writes views of them and the upload reads
 * those views, so they must stay unchanged until the upload is over. The caller gives them back
 * with `recycle` then, and the builder fills them again for a later part (a fresh part-sized
 * allocation per part costs page faults). At most one set waits for reuse: the output reservation
 * covers the part being built and one more.
 */
import { ROW_OVERHEAD_BYTES } from '../model/util/sizes.js';
import type { PartColumns } from '../part/columns.js';

const INITIAL_ROWS = 1024;
const INITIAL_BYTES = 64 * 1024;
/** Beyond this a part's buffers grow on demand: a typed array's length must stay far below 2^31. */
const MAX_PRESIZE_BYTES = 1024 * 1024 * 1024;
/** Column sets kept for reuse once given back (see the module comment). */
const MAX_SPARE_SETS = 1;
/**
 * Room in a fresh set over what the last part used: parts are cut at the same size, so the next
 * one fits, and a set sized for the worst case (every byte a key, every row the smallest) would
 * be several times larger: below malloc's mmap threshold it is zeroed, so resident, in full.
 */
const FRESH_SLACK = 1.125;

/** The buffers one part's rows are built in. */
interface ColumnSet {
  readonly kData: Uint8Array;
  readonly vData: Uint8Array;
  readonly kOff: Int32Array;
  readonly vOff: Int32Array;
  readonly t: Uint32Array;
  readonly d: Uint32Array;
}

/** What the builder holds between `take` and the next row: nothing to write into yet. */
const NO_SET: ColumnSet = {
  kData: new Uint8Array(0),
  vData: new Uint8Array(0),
  kOff: new Int32Array(0),
  vOff: new Int32Array(0),
  t: new Uint32Array(0),
  d: new Uint32Array(0),
};

export class OutputBuilder {
  private kData: Uint8Array;
  private vData: Uint8Array;
  private kView: DataView;
  private vView: DataView;
  private kOff: Int32Array;
  private vOff: Int32Array;
  private t: Uint32Array;
  private d: Uint32Array;
  /** Logical byte lengths (what the offsets say); bytes up to kDone/vDone are already copied. */
  private kLen = 0;
  private vLen = 0;
  private n = 0;
  private readonly tWords: number;

  // Pending source ranges: consecutive rows taken from consecutive rows of one part have
  // contiguous key and value bytes, so they are copied with one call when the range breaks.
  private kSrc: Uint8Array | null = null;
  private kSrcView: DataView | null = null;
  private kFrom = 0;
  private kTo = 0;
  private kDone = 0;
  private vSrc: Uint8Array | null = null;
  private vSrcView: DataView | null = null;
  private vFrom = 0;
  private vTo = 0;
  private vDone = 0;

  /** Sets given back by `recycle`, and the set each handed-out part's columns are views of. */
  private readonly spare: ColumnSet[] = [];
  private readonly handedOut = new WeakMap<PartColumns, ColumnSet>();
  /** Whether the builder holds NO_SET: the next row installs a spare or fresh set. */
  private idle = false;
  /** What the last part used, rows and key and value bytes: a fresh set is sized from it. */
  private lastUse = { rows: 0, kBytes: 0, vBytes: 0 };

  /**
   * `capacityBytes` (the target part size) sizes the buffers once for a whole part: growing by
   * doubling from small copies every byte several times and faults in fresh pages at each step.
   * Sizing every column for the worst case costs address space, not memory: pages are only
   * resident once written.
   */
  constructor(readonly dims: number, capacityBytes = 0) {
    this.tWords = 2 * dims;
    const bytes = Math.max(INITIAL_BYTES, Math.min(capacityBytes, MAX_PRESIZE_BYTES) + INITIAL_BYTES);
    const rows = Math.max(INITIAL_ROWS, Math.ceil(bytes / (ROW_OVERHEAD_BYTES + 4 * this.tWords)) + 1);
    const set: ColumnSet = {
      kData: new Uint8Array(bytes),
      vData: new Uint8Array(bytes),
      kOff: new Int32Array(rows + 1),
      vOff: new Int32Array(rows + 1),
      d: new Uint32Array(rows * 2),
      t: new Uint32Array(rows * this.tWords),
    };
    this.kData = set.kData;
    this.vData = set.vData;
    this.kView = new DataView(set.kData.buffer);
    this.vView = new DataView(set.vData.buffer);
    this.kOff = set.kOff;
    this.vOff = set.vOff;
    this.t = set.t;
    this.d = set.d;
  }

  get rows(): number {
    return this.n;
  }

  /** The size the rows will roughly take in an uncompressed part. */
  get estimatedBytes(): number {
    return this.kLen + this.vLen + this.n * (ROW_OVERHEAD_BYTES + 4 * this.tWords);
  }

  /**
   * Appends one row: key bytes kd[ks..ke), value bytes vd[vs..ve) (kdv and vdv are DataViews of
   * exactly kd and vd), time words tw[to..to+2D), diff as low/high 32-bit words. The source bytes
   * must stay unchanged until `take`.
   */
  append(
    kd: Uint8Array, kdv: DataView, ks: number, ke: number,
    vd: Uint8Array, vdv: DataView, vs: number, ve: number,
    tw: Uint32Array, to: number,
    dlo: number, dhi: number,
  ): void {
    const n = this.pushKeyValue(kd, kdv, ks, ke, vd, vdv, vs, ve);
    const tb = n * this.tWords;
    for (let j = 0; j < this.tWords; j++) this.t[tb + j] = tw[to + j];
    this.d[2 * n] = dlo;
    this.d[2 * n + 1] = dhi;
  }

  /** `append` for D = 1, with the time as two words: the merge's hot path. */
  append1(
    kd: Uint8Array, kdv: DataView, ks: number, ke: number,
    vd: Uint8Array, vdv: DataView, vs: number, ve: number,
    tlo: number, thi: number,
    dlo: number, dhi: number,
  ): void {
    const n = this.pushKeyValue(kd, kdv, ks, ke, vd, vdv, vs, ve);
    this.t[2 * n] = tlo;
    this.t[2 * n + 1] = thi;
    this.d[2 * n] = dlo;
    this.d[2 * n + 1] = dhi;
  }

  /** Adds a row's key and value (extending the pending source ranges when contiguous); returns its index. */
  private pushKeyValue(kd: Uint8Array, kdv: DataView, ks: number, ke: number, vd: Uint8Array, vdv: DataView, vs: number, ve: number): number {
    const n = this.n;
    if (n + 1 >= this.kOff.length) this.growRows();
    if (kd === this.kSrc && ks === this.kTo) {
      this.kTo = ke;
    } else {
      if (this.kSrc !== null) this.flushKeys();
      this.kSrc = kd;
      this.kSrcView = kdv;
      this.kFrom = ks;
      this.kTo = ke;
    }
    this.kLen += ke - ks;
    this.kOff[n + 1] = this.kLen;
    if (vd === this.vSrc && vs === this.vTo) {
      this.vTo = ve;
    } else {
      if (this.vSrc !== null) this.flushValues();
      this.vSrc = vd;
      this.vSrcView = vdv;
      this.vFrom = vs;
      this.vTo = ve;
    }
    this.vLen += ve - vs;
    this.vOff[n + 1] = this.vLen;
    this.n = n + 1;
    return n;
  }

  /**
   * The accumulated rows as part columns, then empties the builder. The columns are views of the
   * builder's buffers, which go out with them: the builder starts the next part in other buffers
   * (a set given back by `recycle`, or fresh ones of the same size), so the columns stay valid.
   */
  take(): PartColumns {
    if (this.idle) this.install(); // no row since the last take: an empty part still needs offsets
    if (this.kSrc !== null) this.flushKeys();
    if (this.vSrc !== null) this.flushValues();
    const n = this.n;
    const set: ColumnSet = { kData: this.kData, vData: this.vData, kOff: this.kOff, vOff: this.vOff, t: this.t, d: this.d };
    const cols: PartColumns = {
      dims: this.dims,
      len: n,
      kOffsets: set.kOff.subarray(0, n + 1),
      kData: set.kData.subarray(0, this.kLen),
      vOffsets: set.vOff.subarray(0, n + 1),
      vData: set.vData.subarray(0, this.vLen),
      t: new BigUint64Array(set.t.buffer, 0, n * this.dims),
      d: new BigInt64Array(set.d.buffer, 0, n),
    };
    this.handedOut.set(cols, set);
    this.lastUse = { rows: n, kBytes: this.kLen, vBytes: this.vLen };
    // The next set is installed by the next row, not now: after a compaction's last part none is.
    this.use(NO_SET);
    this.idle = true;
    this.n = 0;
    this.kLen = 0;
    this.vLen = 0;
    this.kDone = 0;
    this.vDone = 0;
    this.kSrc = null;
    this.vSrc = null;
    return cols;
  }

  /**
   * Gives back the buffers of `cols` (columns this builder's `take` returned): nothing reads them
   * any more, so a later part may be built in them. Columns it did not hand out are ignored.
   */
  recycle(cols: PartColumns): void {
    const set = this.handedOut.get(cols);
    if (set === undefined) return;
    this.handedOut.delete(cols);
    if (this.spare.length < MAX_SPARE_SETS) this.spare.push(set);
  }

  /** Starts building in a spare set, or in fresh buffers sized from what the last part used. */
  private install(): void {
    const spare = this.spare.pop();
    if (spare !== undefined) {
      this.use(spare);
    } else {
      const { rows: lastRows, kBytes, vBytes } = this.lastUse;
      const rows = Math.max(INITIAL_ROWS, Math.ceil(lastRows * FRESH_SLACK));
      this.use({
        kData: new Uint8Array(Math.max(INITIAL_BYTES, Math.ceil(kBytes * FRESH_SLACK))),
        vData: new Uint8Array(Math.max(INITIAL_BYTES, Math.ceil(vBytes * FRESH_SLACK))),
        kOff: new Int32Array(rows + 1),
        vOff: new Int32Array(rows + 1),
        t: new Uint32Array(rows * this.tWords),
        d: new Uint32Array(rows * 2),
      });
    }
    this.idle = false;
  }

  private use(set: ColumnSet): void {
    this.kData = set.kData;
    this.vData = set.vData;
    this.kView = new DataView(set.kData.buffer, set.kData.byteOffset, set.kData.byteLength);
    this.vView = new DataView(set.vData.buffer, set.vData.byteOffset, set.vData.byteLength);
    this.kOff = set.kOff;
    this.vOff = set.vOff;
    this.t = set.t;
    this.d = set.d;
  }

  private flushKeys(): void {
    const len = this.kTo - this.kFrom;
    if (this.kDone + len > this.kData.length) {
      this.kData = grow(this.kData, this.kDone, this.kDone + len);
      this.kView = new DataView(this.kData.buffer);
    }
    copyBytes(this.kSrc!, this.kSrcView!, this.kFrom, len, this.kData, this.kView, this.kDone);
    this.kDone += len;
  }

  private flushValues(): void {
    const len = this.vTo - this.vFrom;
    if (this.vDone + len > this.vData.length) {
      this.vData = grow(this.vData, this.vDone, this.vDone + len);
      this.vView = new DataView(this.vData.buffer);
    }
    copyBytes(this.vSrc!, this.vSrcView!, this.vFrom, len, this.vData, this.vView, this.vDone);
    this.vDone += len;
  }

  private growRows(): void {
    if (this.idle) {
      this.install();
      return;
    }
    const cap = this.kOff.length * 2;
    const kOff = new Int32Array(cap);
    kOff.set(this.kOff);
    this.kOff = kOff;
    const vOff = new Int32Array(cap);
    vOff.set(this.vOff);
    this.vOff = vOff;
    const t = new Uint32Array(cap * this.tWords);
    t.set(this.t);
    this.t = t;
    const d = new Uint32Array(cap * 2);
    d.set(this.d);
    this.d = d;
  }
}

/** A larger copy of the first `used` bytes of `a`, with room for at least `need`. */
function grow(a: Uint8Array, used: number, need: number): Uint8Array {
  let cap = a.length * 2;
  while (cap < need) cap *= 2;
  const b = new Uint8Array(cap);
  b.set(a.subarray(0, used));
  return b;
}

/**
 * Copies len bytes. Short ranges (the common case: a key or value or a few rows of them) go four
 * bytes at a time through DataViews, several times faster than a byte loop or
 * `set(subarray())`, which allocates a view per call; long ranges use the native copy.
 */
function copyBytes(src: Uint8Array, srcView: DataView, from: number, len: number, dst: Uint8Array, dstView: DataView, to: number): void {
  if (len > 256) {
    dst.set(src.subarray(from, from + len), to);
    return;
  }
  let i = 0;
  for (; i + 4 <= len; i += 4) dstView.setUint32(to + i, srcView.getUint32(from + i, true), true);
  for (; i < len; i++) dst[to + i] = src[from + i];
}
