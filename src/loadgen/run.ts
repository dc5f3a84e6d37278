/**
 * The load generator: K simulated writers, one per shard, drive a compactd service the way a
 * storage layer does. Each writer appends batches of updates (BatchWriter), keeps its shard as a
 * spine (spine.ts) and asks the service to compact when a level fills up. It applies a result with
 * a compare-and-set on its own state, replacing the inputs; a result it cannot apply (another
 * compaction of the same inputs won) is deleted through DeleteParts. A fraction of merges is
 * requested twice at once, as two writer processes of one shard would, so that path is exercised.
 * Inputs replaced by an applied result are deleted once no request reads them any more.
 *
 * At the end every shard is read back (BatchReader) and compared with the reference consolidation
 * of everything its writer appended: compaction must never change a shard's contents.
 */
import type { Blob } from '../blob/blob.js';
import { BatchReader } from '../client/batch-reader.js';
import { BatchWriter } from '../client/batch-writer.js';
import type { CallOptions } from '../client/compactor-client.js';
import type { CompactRequest, CompactResponse, HollowBatch } from '../model/batch.js';
import type { Description } from '../model/description.js';
import { CompactdError, invalid, type ErrorKind } from '../model/errors.js';
import { objectKey, validateShardId } from '../model/keys.js';
import { compareUpdates, consolidate, type Update } from '../model/update.js';
import type { DeletePartsResponse } from '../wire/convert.js';
import { Spine, type SpineEntry } from './spine.js';
import { Latencies, mixSeed, seededRandom } from './stats.js';

/** What the generator needs of a compactd client (CompactorClient has it). */
export interface LoadClient {
  compact(req: CompactRequest, opts?: CallOptions): Promise<CompactResponse>;
  deleteParts(shardId: string, keys: readonly string[], opts?: CallOptions): Promise<DeletePartsResponse>;
}

export interface LoadOptions {
  readonly client: LoadClient;
  /** The store the service uses: the writers append there and read the results back. */
  readonly blob: Blob;
  /** Shards, one writer each (K >= 1). */
  readonly shards: number;
  /** Batches each writer appends; unbounded when undefined (then durationMs or signal ends it). */
  readonly batches?: number;
  /** Updates per appended batch (M >= 1). */
  readonly updatesPerBatch: number;
  /** Merge fan-out B: B entries of one level are compacted into one (B >= 2). */
  readonly compactEvery: number;
  /** Compact requests in flight at once across all shards (C >= 1); writers wait for a slot. */
  readonly concurrency: number;
  /** Seed of the generated data; the same seed writes the same updates. */
  readonly seed: number;
  /** Stop appending after this long. */
  readonly durationMs?: number;
  /** Aborting stops appending; in-flight work still finishes and is verified. */
  readonly signal?: AbortSignal;
  /** Shard ids are `<prefix>-<i>` (default `lg<seed>`). */
  readonly shardPrefix?: string;
  /** Part size of appended batches (default 64 KiB: several parts per batch, as real flushes). */
  readonly targetPartBytes?: number;
  /** Fraction of merges requested twice concurrently, one result then stale (default 0.1). */
  readonly raceFraction?: number;
  /** Send `force` so the service never skips (default false: its heuristics decide). */
  readonly force?: boolean;
  /** Deadline of each Compact call, retries included (default 120 s). */
  readonly deadlineMs?: number;
  /** Leave every part in the store afterwards (default: delete what the shards still hold). */
  readonly keep?: boolean;
  /**
   * Stop appending after this many requests in a row failed (default 10): a service that
   * answers nothing but errors will not start answering because more load arrives.
   */
  readonly maxConsecutiveFailures?: number;
}

/** Ten failures in a row with nothing succeeding between them is an outage, not bad luck. */
export const DEFAULT_MAX_CONSECUTIVE_FAILURES = 10;

/** How a Compact request ended, from the writer's side. */
export type RequestOutcome = 'applied' | 'stale' | 'skipped' | 'shed' | 'failed';
export const REQUEST_OUTCOMES: readonly RequestOutcome[] = ['applied', 'stale', 'skipped', 'shed', 'failed'];

/** Live counters, readable while the run goes on (progress display). */
export interface LoadCounters {
  /** Batches to append in total, when bounded. */
  plannedBatches?: number;
  batchesAppended: number;
  updatesAppended: number;
  bytesAppended: number;
  requests: number;
  inFlight: number;
  outcomes: Record<RequestOutcome, number>;
  /** Failures by error kind (shed requests are `exhausted`). */
  failures: Partial<Record<ErrorKind, number>>;
  /** The first failure (shed requests excluded): its kind and message. */
  firstFailure?: { readonly kind: ErrorKind; readonly message: string };
  /** The latest failure (shed requests excluded). */
  lastFailure?: { readonly kind: ErrorKind; readonly message: string };
  /** Failed requests since the last one that did not fail. */
  consecutiveFailures: number;
  /**
   * RESOURCE_EXHAUSTED answers (the service's queue was full), every attempt counted: the client
   * retries them, so most never show as a shed request; this is what the service refused.
   */
  queueFullAnswers: number;
  /** Set when the run stopped appending early, saying why. */
  stoppedBecause?: string;
  inputUpdates: number;
  outputUpdates: number;
  inputBytes: number;
  outputBytes: number;
  /** Stale outputs removed through DeleteParts: deleted and already missing. */
  staleDeleted: number;
  staleMissing: number;
  /** Input parts deleted by writers after a result replaced them. */
  partsRetired: number;
}

export interface ShardVerdict {
  readonly shardId: string;
  readonly ok: boolean;
  readonly batchesAppended: number;
  /** Spine entries and batches at the end. */
  readonly entries: number;
  readonly batches: number;
  readonly expectedRows: number;
  readonly actualRows: number;
  /** What differs, when not ok. */
  readonly problem?: string;
}

export interface LoadReport {
  readonly counters: LoadCounters;
  readonly latencies: Readonly<Record<RequestOutcome, Latencies>>;
  /** Every request's latency. */
  readonly allLatencies: Latencies;
  readonly elapsedSeconds: number;
  readonly shards: readonly ShardVerdict[];
  /** Every shard equals the consolidation of everything written to it. */
  readonly verified: boolean;
  /** Parts deleted in the final clean-up (0 with keep). */
  readonly cleanedParts: number;
}

/** Timestamps per appended batch: batch j covers [W j, W (j + 1)). */
const TIME_WIDTH = 10;
/** The since frontier trails the newest batch by this many batches, so merges advance old times. */
const SINCE_LAG_BATCHES = 2;
/** Distinct values per key: a key's value changes now and then, as rows of a table do. */
const VALUES = 4;
const VALUE_PAD = 'x'.repeat(24);
const DEFAULT_TARGET_PART_BYTES = 64 * 1024;
const DEFAULT_RACE_FRACTION = 0.1;
const DEFAULT_DEADLINE_MS = 120_000;

const enc = new TextEncoder();

/** A counting semaphore for the request slots. */
class Slots {
  #free: number;
  readonly #waiters: (() => void)[] = [];
  constructor(n: number) {
    this.#free = n;
  }
  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#free++;
  }
}

/**
 * The reference: every appended update, pre-consolidated by the since in force when it was
 * appended (valid because since only advances and D = 1), so memory follows the live key space,
 * not the number of updates written.
 */
class Reference {
  #diffs = new Map<string, { k: number; v: number; t: bigint; d: bigint }>();
  #since = 0n;
  #added = 0;

  add(k: number, v: number, t: bigint, d: bigint): void {
    this.#put(k, v, t < this.#since ? this.#since : t, d);
    this.#added++;
  }

  /** Moves the since forward; times behind it collapse once enough was added since the last time. */
  advance(since: bigint): void {
    if (since <= this.#since) return;
    this.#since = since;
    if (this.#added < this.#diffs.size) return;
    this.#added = 0;
    const old = this.#diffs;
    this.#diffs = new Map();
    for (const r of old.values()) if (r.d !== 0n) this.#put(r.k, r.v, r.t < since ? since : r.t, r.d);
  }

  #put(k: number, v: number, t: bigint, d: bigint): void {
    const id = `${k}/${v}/${t}`;
    const cur = this.#diffs.get(id);
    if (cur) cur.d += d;
    else this.#diffs.set(id, { k, v, t, d });
  }
  consolidated(since: bigint): Update[] {
    const rows: Update[] = [];
    for (const r of this.#diffs.values()) if (r.d !== 0n) rows.push({ k: keyBytes(r.k), v: valueBytes(r.v), t: [r.t], d: r.d });
    return consolidate(rows, [[since]]);
  }
}

function keyBytes(k: number): Uint8Array {
  return enc.encode(`key-${String(k).padStart(8, '0')}`);
}
function valueBytes(v: number): Uint8Array {
  return enc.encode(`value-${v}-${VALUE_PAD}`);
}

interface ShardState {
  readonly id: string;
  readonly spine: Spine;
  readonly writer: BatchWriter;
  readonly reference: Reference;
  readonly data: () => number;
  readonly policy: () => number;
  appended: number;
  /** The shard's since frontier (one coordinate). */
  since: bigint;
  /** In-flight requests reading each batch: a retired batch is deleted only at zero. */
  readonly readers: Map<HollowBatch, number>;
  retired: HollowBatch[];
  requestSeq: number;
}

/**
 * Runs the load and resolves with the report once every writer stopped, every request settled,
 * every shard was verified and (unless `keep`) cleaned up. Rejects only for errors outside the
 * requests themselves (a failed append, a store error while verifying); failed requests are
 * counted in the report.
 */
export class LoadGenerator {
  readonly counters: LoadCounters;
  readonly #opts: LoadOptions;
  readonly #latencies: Record<RequestOutcome, Latencies> = {
    applied: new Latencies(),
    stale: new Latencies(),
    skipped: new Latencies(),
    shed: new Latencies(),
    failed: new Latencies(),
  };
  readonly #all = new Latencies();
  readonly #slots: Slots;
  readonly #pending = new Set<Promise<void>>();
  #started = 0;
  #backgroundError: unknown;

  /** Checks the options (CompactdError `invalid` naming the bad one). */
  constructor(opts: LoadOptions) {
    const whole = (name: string, v: number | undefined, min: number) => {
      if (v !== undefined && (!Number.isSafeInteger(v) || v < min)) throw invalid(`${name} must be a whole number >= ${min}, got ${v}`);
    };
    whole('shards', opts.shards, 1);
    whole('batches', opts.batches, 1);
    whole('updates per batch', opts.updatesPerBatch, 1);
    whole('compact every', opts.compactEvery, 2);
    whole('concurrency', opts.concurrency, 1);
    whole('target part bytes', opts.targetPartBytes, 1);
    whole('max consecutive failures', opts.maxConsecutiveFailures, 1);
    if (!Number.isSafeInteger(opts.seed)) throw invalid(`seed must be a whole number, got ${opts.seed}`);
    const race = opts.raceFraction ?? DEFAULT_RACE_FRACTION;
    if (!(race >= 0 && race <= 1)) throw invalid(`race fraction must be between 0 and 1, got ${race}`);
    if (opts.batches === undefined && opts.durationMs === undefined && opts.signal === undefined) {
      throw invalid('give a number of batches, a duration, or both');
    }
    if (opts.durationMs !== undefined && !(opts.durationMs > 0)) throw invalid(`duration must be > 0, got ${opts.durationMs} ms`);
    validateShardId(`${opts.shardPrefix ?? `lg${opts.seed}`}-${opts.shards - 1}`);
    this.#opts = opts;
    this.#slots = new Slots(opts.concurrency);
    this.counters = {
      plannedBatches: opts.batches === undefined ? undefined : opts.batches * opts.shards,
      batchesAppended: 0,
      updatesAppended: 0,
      bytesAppended: 0,
      requests: 0,
      inFlight: 0,
      outcomes: { applied: 0, stale: 0, skipped: 0, shed: 0, failed: 0 },
      failures: {},
      consecutiveFailures: 0,
      queueFullAnswers: 0,
      inputUpdates: 0,
      outputUpdates: 0,
      inputBytes: 0,
      outputBytes: 0,
      staleDeleted: 0,
      staleMissing: 0,
      partsRetired: 0,
    };
  }

  /** Seconds since `run` started (0 before). */
  elapsedSeconds(): number {
    return this.#started === 0 ? 0 : (performance.now() - this.#started) / 1000;
  }

  /** Runs the whole load once; see the class comment. */
  async run(): Promise<LoadReport> {
    const o = this.#opts;
    this.#started = performance.now();
    const deadline = o.durationMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + o.durationMs;
    const stop = () => Date.now() >= deadline || o.signal?.aborted === true || this.counters.stoppedBecause !== undefined;
    const prefix = o.shardPrefix ?? `lg${o.seed}`;
    const shards: ShardState[] = Array.from({ length: o.shards }, (_, i) => {
      const id = `${prefix}-${i}`;
      return {
        id,
        spine: new Spine(o.compactEvery),
        writer: new BatchWriter({ blob: o.blob, shardId: id, dims: 1, targetPartBytes: o.targetPartBytes ?? DEFAULT_TARGET_PART_BYTES }),
        reference: new Reference(),
        data: seededRandom(mixSeed(o.seed, 2 * i)),
        policy: seededRandom(mixSeed(o.seed, 2 * i + 1)),
        appended: 0,
        since: 0n,
        readers: new Map(),
        retired: [],
        requestSeq: 0,
      };
    });

    // A writer failure (the store refusing an append) ends the run: the others stop appending.
    let writerError: unknown;
    await Promise.all(
      shards.map(async (s) => {
        try {
          while ((o.batches === undefined || s.appended < o.batches) && !stop() && writerError === undefined) {
            await this.#append(s);
            await this.#maybeCompact(s);
          }
        } catch (err) {
          writerError ??= err;
        }
      }),
    );
    await this.#settle();
    if (writerError !== undefined) throw CompactdError.from(writerError);
    if (this.#backgroundError !== undefined) throw CompactdError.from(this.#backgroundError);
    for (const s of shards) await this.#collect(s);

    const verdicts: ShardVerdict[] = [];
    for (const s of shards) verdicts.push(await this.#verify(s));
    let cleaned = 0;
    if (!o.keep) for (const s of shards) cleaned += await this.#deleteBatches(s, s.spine.batches());
    return {
      counters: this.counters,
      latencies: this.#latencies,
      allLatencies: this.#all,
      elapsedSeconds: this.elapsedSeconds(),
      shards: verdicts,
      verified: verdicts.every((v) => v.ok),
      cleanedParts: cleaned,
    };
  }

  async #append(s: ShardState): Promise<void> {
    const j = s.appended;
    const m = this.#opts.updatesPerBatch;
    const keySpace = Math.max(64, 2 * m);
    const lower = BigInt(TIME_WIDTH * j);
    const updates: Update[] = [];
    for (let n = 0; n < m; n++) {
      const k = Math.floor(s.data() * keySpace);
      const v = Math.floor(s.data() * VALUES);
      const t = lower + BigInt(Math.floor(s.data() * TIME_WIDTH));
      // Mostly inserts, some retractions: consolidation has work to do and sums go negative too.
      const d = s.data() < 0.7 ? 1n : -1n;
      updates.push({ k: keyBytes(k), v: valueBytes(v), t: [t], d });
      s.reference.add(k, v, t, d);
    }
    const desc: Description = { lower: [[lower]], upper: [[lower + BigInt(TIME_WIDTH)]], since: [[0n]] };
    const batch = await s.writer.write(updates, desc);
    s.spine.append(batch);
    s.appended++;
    s.since = BigInt(TIME_WIDTH * Math.max(0, s.appended - SINCE_LAG_BATCHES));
    s.reference.advance(s.since);
    this.counters.batchesAppended++;
    this.counters.updatesAppended += m;
    for (const r of batch.runs) for (const p of r.parts) this.counters.bytesAppended += p.kind === 'hollow' ? p.encodedSizeBytes : p.data.byteLength;
  }

  /** Starts a request for every merge the policy offers, waiting for a free slot before each. */
  async #maybeCompact(s: ShardState): Promise<void> {
    for (;;) {
      if (this.counters.stoppedBecause !== undefined) return;
      const entries = s.spine.pickMerge();
      if (!entries) return;
      const copies = s.policy() < (this.#opts.raceFraction ?? DEFAULT_RACE_FRACTION) ? 2 : 1;
      // Claimed now, before waiting for a slot: the policy must not offer these entries again,
      // and their parts must outlive an earlier copy's result replacing them.
      const inputs = entries.flatMap((e) => e.batches);
      for (let c = 0; c < copies; c++) {
        s.spine.claim(entries);
        for (const b of inputs) s.readers.set(b, (s.readers.get(b) ?? 0) + 1);
      }
      for (let c = 0; c < copies; c++) {
        await this.#slots.acquire();
        this.#track(this.#request(s, entries));
      }
    }
  }

  #track(p: Promise<void>): void {
    // Request failures are counted inside #request; what escapes is a store error while
    // collecting garbage, reported when the run ends.
    const tracked: Promise<void> = p.then(
      () => {},
      (err: unknown) => {
        this.#backgroundError ??= err;
      },
    );
    this.#pending.add(tracked);
    void tracked.then(() => this.#pending.delete(tracked));
  }

  /** Waits until no request is in flight (requests may start follow-up merges while settling). */
  async #settle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  async #request(s: ShardState, entries: readonly SpineEntry[]): Promise<void> {
    const o = this.#opts;
    // The caller claimed the entries and counted this request among their batches' readers.
    const inputs = entries.flatMap((e) => e.batches);
    const req: CompactRequest = {
      shardId: s.id,
      desc: { lower: inputs[0].desc.lower, upper: inputs.at(-1)!.desc.upper, since: [[s.since]] },
      inputs,
      force: o.force ?? false,
      requestId: `${s.id}-r${++s.requestSeq}`,
    };
    this.counters.requests++;
    this.counters.inFlight++;
    const started = performance.now();
    let outcome: RequestOutcome;
    try {
      const res = await o.client.compact(req, {
        deadlineMs: o.deadlineMs ?? DEFAULT_DEADLINE_MS,
        onAttemptFailed: (kind) => {
          if (kind === 'exhausted') this.counters.queueFullAnswers++;
        },
      });
      if (res.outcome === 'compacted' && res.output) {
        const st = res.stats;
        this.counters.inputUpdates += st.inputUpdates;
        this.counters.outputUpdates += st.outputUpdates;
        this.counters.inputBytes += st.inputBytes;
        this.counters.outputBytes += st.outputBytes;
        if (s.spine.replace(entries, [res.output])) {
          outcome = 'applied';
          s.retired.push(...inputs);
        } else {
          outcome = 'stale';
          await this.#deleteStale(s, res.output);
        }
      } else {
        // Skipped: the writer keeps the inputs and treats them as one entry of the next level,
        // so a later, larger merge includes them (the heuristics then see more inputs).
        s.spine.replace(entries, inputs);
        outcome = 'skipped';
      }
    } catch (err) {
      const e = CompactdError.from(err);
      outcome = e.kind === 'exhausted' ? 'shed' : 'failed';
      this.counters.failures[e.kind] = (this.counters.failures[e.kind] ?? 0) + 1;
      if (outcome === 'failed') {
        this.counters.firstFailure ??= { kind: e.kind, message: e.message };
        this.counters.lastFailure = { kind: e.kind, message: e.message };
      }
    } finally {
      this.counters.inFlight--;
      s.spine.release(entries);
      for (const b of inputs) {
        const n = s.readers.get(b)! - 1;
        if (n > 0) s.readers.set(b, n);
        else s.readers.delete(b);
      }
      this.#slots.release();
    }
    const ms = performance.now() - started;
    this.counters.outcomes[outcome]++;
    this.counters.consecutiveFailures = outcome === 'failed' ? this.counters.consecutiveFailures + 1 : 0;
    const limit = o.maxConsecutiveFailures ?? DEFAULT_MAX_CONSECUTIVE_FAILURES;
    if (this.counters.consecutiveFailures >= limit && this.counters.stoppedBecause === undefined) {
      const last = this.counters.lastFailure!;
      this.counters.stoppedBecause = `${limit} requests in a row failed; last: ${last.kind}: ${last.message}`;
    }
    this.#latencies[outcome].add(ms);
    this.#all.add(ms);
    await this.#collect(s);
    // A result may complete a level: offer the next merge without waiting for the next append.
    await this.#maybeCompact(s);
  }

  /** Deletes an output the writer could not apply, through the service (it wrote those parts). */
  async #deleteStale(s: ShardState, output: HollowBatch): Promise<void> {
    const keys = output.runs.flatMap((r) => r.parts.flatMap((p) => (p.kind === 'hollow' ? [p.key] : [])));
    if (keys.length === 0) return;
    const res = await this.#opts.client.deleteParts(s.id, keys, { deadlineMs: this.#opts.deadlineMs ?? DEFAULT_DEADLINE_MS });
    this.counters.staleDeleted += res.deleted;
    this.counters.staleMissing += res.missing;
  }

  /** Deletes the parts of retired batches no in-flight request still reads. */
  async #collect(s: ShardState): Promise<void> {
    const free = s.retired.filter((b) => !s.readers.has(b));
    if (free.length === 0) return;
    s.retired = s.retired.filter((b) => s.readers.has(b));
    const deleted = await this.#deleteBatches(s, free);
    this.counters.partsRetired += deleted;
  }

  async #deleteBatches(s: ShardState, batches: readonly HollowBatch[]): Promise<number> {
    let n = 0;
    for (const b of batches) {
      for (const r of b.runs) {
        for (const p of r.parts) {
          if (p.kind !== 'hollow') continue;
          await this.#opts.blob.delete(objectKey(s.id, p.key));
          n++;
        }
      }
    }
    return n;
  }

  /** Reads the shard back and compares it with the reference consolidation. */
  async #verify(s: ShardState): Promise<ShardVerdict> {
    const batches = s.spine.batches();
    const base = { shardId: s.id, batchesAppended: s.appended, entries: s.spine.entries.length, batches: batches.length };
    const expected = s.reference.consolidated(s.since);
    const upper = BigInt(TIME_WIDTH * s.appended);
    const span = batches.length === 0 ? [0n, 0n] : [batches[0].desc.lower[0]?.[0], batches.at(-1)!.desc.upper[0]?.[0]];
    if (span[0] !== 0n || span[1] !== upper) {
      return { ...base, ok: false, expectedRows: expected.length, actualRows: 0, problem: `the batches span [${span[0]}, ${span[1]}), expected [0, ${upper})` };
    }
    const reader = new BatchReader({ blob: this.#opts.blob, shardId: s.id });
    const rows: Update[] = [];
    for (const b of batches) for (const u of await reader.read(b)) rows.push(u);
    const actual = consolidate(rows, [[s.since]]);
    const problem = firstDifference(expected, actual);
    return { ...base, ok: problem === undefined, expectedRows: expected.length, actualRows: actual.length, ...(problem ? { problem } : {}) };
  }
}

function firstDifference(expected: readonly Update[], actual: readonly Update[]): string | undefined {
  const n = Math.min(expected.length, actual.length);
  const show = (u: Update) => `(${new TextDecoder().decode(u.k)}, t=${u.t.join(',')}, d=${u.d})`;
  for (let i = 0; i < n; i++) {
    if (compareUpdates(expected[i], actual[i]) !== 0 || expected[i].d !== actual[i].d) {
      return `row ${i}: expected ${show(expected[i])}, found ${show(actual[i])}`;
    }
  }
  if (expected.length !== actual.length) return `expected ${expected.length} rows, found ${actual.length}`;
  return undefined;
}

/** Runs one load; see LoadGenerator. */
export function runLoad(opts: LoadOptions): Promise<LoadReport> {
  return new LoadGenerator(opts).run();
}
