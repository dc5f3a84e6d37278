/**
 * Hostile and broken input over real gRPC (fast-check): a valid request over a file store is
 * mutated one way per run (bad antichains, mixed dimensions, huge counts, empty messages,
 * duplicate references, wrong lens, corrupt, truncated and foreign part bytes, wrong schemas,
 * unsorted ORDERED parts, keys and shard ids that try to leave the shard, requests over each size
 * limit). Each answer must be the status docs/contract.md, "Errors" documents for it (successes must
 * be the right consolidation), no output part may remain after a failure, nothing may appear
 * outside the shard, the server keeps serving with no worker crash, and memory stays bounded.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { credentials, loadPackageDefinition, status, type ServiceError } from '@grpc/grpc-js';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Blob } from '../../src/blob/blob.js';
import { openBlob } from '../../src/blob/url.js';
import type { HollowBatch, HollowPart } from '../../src/model/batch.js';
import type { Description } from '../../src/model/description.js';
import { objectKey } from '../../src/model/keys.js';
import type { Update } from '../../src/model/update.js';
import { encodePart } from '../../src/part/encode.js';
import { columnsFromUpdates } from '../../src/part/rows.js';
import type { ProtoGrpcType } from '../../src/gen/compactd.js';
import { compactRequestToProto, compactResponseFromProto } from '../../src/wire/convert.js';
import { loadCompactdPackage } from '../../src/wire/load.js';
import { consolidate, desc1, readRows, upd, writeBatch } from '../helpers/batches.js';
import { compactRequest, healthClient, httpGetText, listKeys, startTestServer, type TestServer } from '../service/harness.js';
import { metricSum } from '../service/prom.js';

const SHARD = 'h';
const LIMITS = { maxInputs: 16, maxParts: 40, maxDims: 4, maxKeyChars: 300, maxMessageBytes: 1024 * 1024, maxAntichain: 64 };
/** The contract's key rules (docs/contract.md, "Keys"), written out independently of src/model. */
const SHARD_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const SEGMENT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const contractKey = (k: string) => k.length > 0 && k.length <= 512 && !k.startsWith('/') && k.split('/').every((s) => SEGMENT_RE.test(s));

let root: string;
let storeDir: string;
let blob: Blob;
let t: TestServer;
let raw: RawClient;
/** Three consecutive batches, each one ORDERED run of two parts, and every row they hold. */
let pool: { inputs: HollowBatch[]; rows: Update[][]; partRows: Map<string, Update[]> };

type Proto = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
interface Answer {
  readonly code: status;
  readonly details: string;
  readonly response?: Proto;
}
interface RawClient {
  compact(req: Proto): Promise<Answer>;
  deleteParts(req: Proto): Promise<Answer>;
  close(): void;
}

/** A client of the generated stubs that sends plain proto objects, however malformed. */
function rawClient(address: string): RawClient {
  const proto = loadPackageDefinition(loadCompactdPackage().packageDefinition) as unknown as ProtoGrpcType;
  const opts = { 'grpc.max_send_message_length': 8 * 1024 * 1024, 'grpc.max_receive_message_length': 8 * 1024 * 1024 };
  const c = new proto.compactd.v1.Compactor(address, credentials.createInsecure(), opts);
  const call = (method: 'Compact' | 'DeleteParts', req: Proto) =>
    new Promise<Answer>((resolve) => {
      const cb = (err: ServiceError | null, res?: Proto) =>
        resolve(err ? { code: err.code, details: err.details } : { code: status.OK, details: '', response: res });
      (c[method] as unknown as (r: Proto, o: object, cb: (e: ServiceError | null, r?: Proto) => void) => void).call(
        c,
        req,
        { deadline: new Date(Date.now() + 20_000) },
        cb,
      );
    });
  return { compact: (r) => call('Compact', r), deleteParts: (r) => call('DeleteParts', r), close: () => c.close() };
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'compactd-hostile-'));
  storeDir = path.join(root, 'store');
  blob = await openBlob(pathToFileURL(storeDir).href);
  const inputs: HollowBatch[] = [];
  const rows: Update[][] = [];
  const partRows = new Map<string, Update[]>();
  for (let i = 0; i < 3; i++) {
    const r = consolidate(
      Array.from({ length: 40 }, (_, j) => upd(`k${String((j * 7 + i) % 50).padStart(2, '0')}`, `v${j % 3}`, 2 * i + 1, j % 4 === 0 ? -1 : 1)),
      [],
    );
    rows.push(r);
    const b = await writeBatch(blob, SHARD, 1, desc1(2 * i, 2 * i + 2, 0), [[r.slice(0, 20), r.slice(20)]]);
    (b.runs[0].parts as HollowPart[]).forEach((p, k) => partRows.set(p.key, k === 0 ? r.slice(0, 20) : r.slice(20)));
    inputs.push(b);
  }
  pool = { inputs, rows, partRows };
  t = await startTestServer(pathToFileURL(storeDir).href, [
    '--workers', '2',
    '--max-inputs', String(LIMITS.maxInputs),
    '--max-parts', String(LIMITS.maxParts),
    '--max-dims', String(LIMITS.maxDims),
    '--max-key-chars', String(LIMITS.maxKeyChars),
    '--max-message-bytes', String(LIMITS.maxMessageBytes),
    '--max-antichain-elements', String(LIMITS.maxAntichain),
  ]);
  raw = rawClient(t.server.address);
});

afterAll(async () => {
  raw?.close();
  await t?.server.shutdown(0);
  await blob?.close();
  await rm(root, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Cases: a request (as a proto object) and what the contract says it must get.

type Expect =
  | { readonly code: status }
  /** COMPACTED with exactly these updates (since applied). */
  | { readonly ok: Update[] }
  /** Any of these codes (bit flips may leave a readable part); never INTERNAL. */
  | { readonly anyOf: readonly (status | 'ok')[] };

interface Case {
  readonly name: string;
  readonly req: Proto;
  readonly expect: Expect;
}

const clone = <T>(x: T): T => structuredClone(x);
const ts = (...c: (number | bigint | string)[]) => ({ coords: c.map(String) });
const ac = (...e: ReturnType<typeof ts>[]) => ({ elements: e });

/** The valid base request over inputs [from, to) with output since `since`. */
function base(since: number, from = 0, to = 3): { req: Proto; rows: Update[] } {
  const inputs = pool.inputs.slice(from, to);
  const req = compactRequestToProto({ ...compactRequest(SHARD, inputs, { since }), desc: desc1(2 * from, 2 * to, since) }) as Proto;
  return { req, rows: pool.rows.slice(from, to).flat() };
}

const encoded = (rows: readonly Update[], dims: number, desc: Description) =>
  Buffer.from(encodePart(columnsFromUpdates(rows, dims), { version: 1, dims, desc, index: 0 }));

const sinceArb = fc.integer({ min: 0, max: 7 });
const inputArb = fc.integer({ min: 0, max: 2 });

const HOSTILE_KEYS = [
  '..', '.', '../h/x', '../../etc/passwd', '/etc/passwd', '/abs/p1', 'a/../../b', 'a/./b', 'a//b', 'a/', '',
  '%2e%2e/%2e%2e/x', '..%2fetc', 'a%2Fb', '%00', 'a\u0000b', 'a\\..\\b', '\uff0e\uff0e/x', 'a\u2215..\u2215b',
  'c\u200b/p1', '\u202egnp.x', 'ｈ/p', 'a b', 'a\nb', '-x', '.hidden/p', 'x'.repeat(513), `${'a'.repeat(128)}b/p`,
];
const HOSTILE_SHARDS = ['', '..', '../h', '/h', 'h/x', 'h/../..', '%2e%2e', 'h%2F..', 'ｈ', 'h\u0000', '-h', '_h', 'h.x', 'x'.repeat(129), 'h\u200b'];

const keyArb = fc.oneof(
  fc.constantFrom(...HOSTILE_KEYS),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,12}(\/[A-Za-z0-9][A-Za-z0-9._-]{0,12}){0,3}$/),
  fc.integer({ min: LIMITS.maxKeyChars - 5, max: 600 }).map((n) => {
    const segs: string[] = [];
    let len = -1;
    while (len + 1 < n) {
      const s = 'x'.repeat(Math.min(100, n - len - 1));
      segs.push(s);
      len += s.length + 1;
    }
    return segs.join('/');
  }),
);
const shardArb = fc.oneof(fc.constantFrom(...HOSTILE_SHARDS), fc.string({ unit: 'binary', maxLength: 20 }), fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$/));

/** The status a request whose only defect is key `k` (and that names no other missing part) must get. */
function keyExpectation(k: string): Expect {
  if (!contractKey(k)) return { code: status.INVALID_ARGUMENT };
  if (k.length > LIMITS.maxKeyChars) return { code: status.INVALID_ARGUMENT };
  return { code: status.NOT_FOUND };
}

const cases: fc.Arbitrary<Case>[] = [
  // Keys that try to leave the shard (or are merely absent).
  fc.tuple(sinceArb, inputArb, fc.integer({ min: 0, max: 1 }), keyArb).map(([s, i, k, key]) => {
    const { req } = base(s);
    req.inputs[i].runs[0].parts[k].hollow.key = key;
    return { name: `key ${JSON.stringify(key)}`, req, expect: keyExpectation(key) };
  }),
  fc.tuple(sinceArb, shardArb).map(([s, shard]) => {
    const { req } = base(s);
    req.shard_id = shard;
    const valid = SHARD_RE.test(shard);
    return { name: `shard ${JSON.stringify(shard)}`, req, expect: { code: valid && shard !== SHARD ? status.NOT_FOUND : valid ? status.OK : status.INVALID_ARGUMENT } as Expect };
  }).filter((c) => (c.expect as { code: status }).code !== status.OK),
  // Non-consecutive inputs.
  fc.tuple(sinceArb, fc.constantFrom('drop-middle', 'reverse', 'shift-lower', 'shift-upper', 'wrong-desc-upper')).map(([s, how]) => {
    const { req } = base(s);
    if (how === 'drop-middle') req.inputs.splice(1, 1);
    else if (how === 'reverse') req.inputs.reverse();
    else if (how === 'shift-lower') req.inputs[1].desc.lower = ac(ts(3));
    else if (how === 'shift-upper') req.inputs[2].desc.upper = ac(ts(9));
    else req.desc.upper = ac(ts(7));
    return { name: `non-consecutive ${how}`, req, expect: { code: status.INVALID_ARGUMENT } };
  }),
  // Frontiers that are not antichains, empty lowers, mixed and missing dimensions.
  fc.tuple(sinceArb, fc.constantFrom('comparable', 'duplicate', 'empty-lower', 'mixed-dims', 'no-coords')).map(([s, how]) => {
    const { req } = base(s);
    if (how === 'comparable') req.desc.since = ac(ts(1), ts(2));
    else if (how === 'duplicate') req.inputs[0].desc.upper = ac(ts(2), ts(2));
    else if (how === 'empty-lower') req.desc.lower = ac();
    else if (how === 'mixed-dims') req.inputs[1].desc.upper = ac(ts(4, 0));
    else req.desc.since = ac(ts());
    return { name: `antichain ${how}`, req, expect: { code: status.INVALID_ARGUMENT } };
  }),
  // A since regression.
  fc.tuple(sinceArb, inputArb, fc.integer({ min: 1, max: 100 })).map(([s, i, d]) => {
    const { req } = base(s);
    req.inputs[i].desc.since = ac(ts(s + d));
    return { name: 'since regression', req, expect: { code: status.INVALID_ARGUMENT } };
  }),
  // Empty and half-empty messages.
  fc.constantFrom<[string, () => Proto]>(
    ['empty message', () => ({})],
    ['shard only', () => ({ shard_id: SHARD })],
    ['no inputs, lower != upper', () => ({ shard_id: SHARD, desc: { lower: ac(ts(0)), upper: ac(ts(2)), since: ac(ts(0)) }, force: true })],
    ['part with neither kind', () => { const r = base(0).req; r.inputs[0].runs[0].parts[0] = {}; return r; }],
    ['empty inline part', () => { const r = base(0).req; r.inputs[0].runs[0].parts[0] = { inline: { data: Buffer.alloc(0) } }; return r; }],
    ['unknown run order', () => { const r = base(0).req; r.inputs[0].runs[0].order = 7; return r; }],
    ['desc missing', () => { const r = base(0).req; delete r.desc; return r; }],
  ).map(([name, build]) => ({ name, req: build(), expect: { code: status.INVALID_ARGUMENT } })),
  // Empty but well-formed: nothing to merge, an empty output.
  fc.integer({ min: 0, max: LIMITS.maxInputs }).map((n) => ({
    name: `${n} empty inputs`,
    req: {
      shard_id: SHARD,
      force: true,
      desc: { lower: ac(ts(0)), upper: ac(ts(n)), since: ac(ts(0)) },
      inputs: Array.from({ length: n }, (_, i) => ({ desc: { lower: ac(ts(i)), upper: ac(ts(i + 1)), since: ac(ts(0)) }, runs: [], len: '0' })),
    },
    expect: { ok: [] },
  })),
  // Huge and wrong counts.
  fc.tuple(sinceArb, inputArb, fc.bigInt({ min: 0n, max: 2n ** 53n - 1n })).map(([s, i, len]) => {
    const { req, rows } = base(s);
    req.inputs[i].len = len.toString();
    return { name: `wrong len ${len}`, req, expect: { ok: consolidate(rows, [[BigInt(s)]]) } };
  }),
  fc.tuple(sinceArb, inputArb, fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n })).map(([s, i, n]) => {
    const { req } = base(s);
    req.inputs[i].len = n.toString();
    return { name: `len ${n}`, req, expect: { code: status.INVALID_ARGUMENT } };
  }),
  fc.tuple(sinceArb, inputArb, fc.integer({ min: 1, max: 2 ** 40 })).map(([s, i, extra]) => {
    const { req } = base(s);
    const h = req.inputs[i].runs[0].parts[1].hollow;
    h.encoded_size_bytes = (BigInt(h.encoded_size_bytes) + BigInt(extra)).toString();
    return { name: 'encoded size too large', req, expect: { code: status.DATA_LOSS } };
  }),
  // Duplicate references: the same part twice in one ORDERED run is out of order; in a second
  // run of its own batch it is simply counted twice.
  fc.tuple(sinceArb, inputArb, fc.integer({ min: 0, max: 1 })).map(([s, i, k]) => {
    const { req } = base(s);
    const part = req.inputs[i].runs[0].parts[k];
    req.inputs[i].runs[0].parts.splice(k + 1, 0, clone(part));
    return { name: 'same part twice in a run', req, expect: { code: status.DATA_LOSS } };
  }),
  fc.tuple(sinceArb, inputArb, fc.integer({ min: 0, max: 1 })).map(([s, i, k]) => {
    const { req, rows } = base(s);
    const part = req.inputs[i].runs[0].parts[k];
    req.inputs[i].runs.push({ parts: [clone(part)], order: 'RUN_ORDER_ORDERED' });
    const extra = pool.partRows.get(part.hollow.key)!;
    return { name: 'same part in two runs', req, expect: { ok: consolidate([...rows, ...extra], [[BigInt(s)]]) } };
  }),
  // Part bytes: garbage, truncated, foreign schemas, other dimensions, unsorted, zero diffs.
  fc.tuple(sinceArb, inputArb, fc.uint8Array({ minLength: 1, maxLength: 3000 })).map(([s, i, bytes]) => {
    const { req } = base(s);
    req.inputs[i].runs[0].parts[0] = { inline: { data: Buffer.from(bytes) } };
    return { name: 'garbage inline part', req, expect: { code: status.DATA_LOSS } };
  }),
  fc.tuple(sinceArb, inputArb, fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true })).map(([s, i, frac]) => {
    const { req } = base(s);
    const d = pool.inputs[i].desc;
    const full = encoded(pool.partRows.get((pool.inputs[i].runs[0].parts[0] as HollowPart).key)!, 1, d);
    req.inputs[i].runs[0].parts[0] = { inline: { data: full.subarray(0, Math.max(1, Math.floor(frac * full.length))) } };
    return { name: 'truncated inline part', req, expect: { code: status.DATA_LOSS } };
  }),
  fc.tuple(sinceArb, inputArb, fc.constantFrom('foreign', 'dims2', 'unsorted', 'zero-diff')).map(([s, i, how]) => {
    const { req, rows } = base(s);
    const d = pool.inputs[i].desc;
    const partRows = pool.partRows.get((pool.inputs[i].runs[0].parts[0] as HollowPart).key)!;
    let data: Buffer;
    if (how === 'foreign') data = Buffer.from(tableToIPC(tableFromArrays({ k: Int32Array.from([1, 2]), x: Float64Array.from([1, 2]) }), 'file'));
    else if (how === 'dims2') data = encoded(partRows.map((u) => ({ ...u, t: [u.t[0], 0n] })), 2, { lower: [[BigInt(2 * i), 0n]], upper: [[BigInt(2 * i + 2), 0n]], since: [[0n, 0n]] });
    else if (how === 'unsorted') data = encoded([...partRows].reverse(), 1, d);
    else data = encoded(partRows.map((u, j) => (j === 1 ? { ...u, d: 0n } : u)), 1, d);
    req.inputs[i].runs[0].parts[0] = { inline: { data } };
    void rows;
    return { name: `inline part ${how}`, req, expect: { code: status.DATA_LOSS } };
  }),
  // The same unsorted rows in an UNORDERED run are fine.
  fc.tuple(sinceArb, inputArb).map(([s, i]) => {
    const { req, rows } = base(s);
    const partRows = pool.partRows.get((pool.inputs[i].runs[0].parts[0] as HollowPart).key)!;
    req.inputs[i].runs[0].parts.splice(0, 1);
    req.inputs[i].runs.push({ parts: [{ inline: { data: encoded([...partRows].reverse(), 1, pool.inputs[i].desc) } }], order: 'RUN_ORDER_UNORDERED' });
    return { name: 'unsorted part in an UNORDERED run', req, expect: { ok: consolidate(rows, [[BigInt(s)]]) } };
  }),
  // Size limits.
  fc.integer({ min: LIMITS.maxInputs + 1, max: 3 * LIMITS.maxInputs }).map((n) => ({
    name: `${n} inputs`,
    req: {
      shard_id: SHARD,
      force: true,
      desc: { lower: ac(ts(0)), upper: ac(ts(n)), since: ac(ts(0)) },
      inputs: Array.from({ length: n }, (_, i) => ({ desc: { lower: ac(ts(i)), upper: ac(ts(i + 1)), since: ac(ts(0)) }, runs: [], len: '0' })),
    },
    expect: { code: status.RESOURCE_EXHAUSTED },
  })),
  fc.tuple(sinceArb, fc.integer({ min: LIMITS.maxParts + 1, max: 2 * LIMITS.maxParts })).map(([s, n]) => {
    const { req } = base(s);
    const p = req.inputs[0].runs[0].parts[0];
    req.inputs[0].runs = Array.from({ length: n }, () => ({ parts: [clone(p)], order: 'RUN_ORDER_ORDERED' }));
    return { name: `${n} parts`, req, expect: { code: status.RESOURCE_EXHAUSTED } };
  }),
  fc.integer({ min: LIMITS.maxDims + 1, max: 40 }).map((d) => {
    const z = Array.from({ length: d }, () => 0);
    return {
      name: `${d} dimensions`,
      req: { shard_id: SHARD, force: true, desc: { lower: ac(ts(...z)), upper: ac(ts(...z.map(() => 1))), since: ac(ts(...z)) }, inputs: [] },
      expect: { code: status.RESOURCE_EXHAUSTED },
    };
  }),
  fc.integer({ min: LIMITS.maxAntichain + 1, max: 20_000 }).map((n) => ({
    name: `antichain of ${n} elements`,
    req: {
      shard_id: SHARD,
      force: true,
      desc: { lower: { elements: Array.from({ length: n }, (_, i) => ts(i, n - i)) }, upper: ac(ts(n, n)), since: ac(ts(0, 0)) },
      inputs: [],
    },
    expect: { code: status.RESOURCE_EXHAUSTED },
  })),
  fc.tuple(sinceArb, fc.integer({ min: LIMITS.maxMessageBytes, max: 2 * LIMITS.maxMessageBytes })).map(([s, n]) => {
    const { req } = base(s);
    req.inputs[0].runs[0].parts[0] = { inline: { data: Buffer.alloc(n, 7) } };
    return { name: `${n}-byte message`, req, expect: { code: status.RESOURCE_EXHAUSTED } };
  }),
];

/** A pool part with one bit flipped, stored under a new key; with its checksum kept or dropped. */
async function flipped(i: number, k: number, bit: number, keepChecksum: boolean): Promise<Case> {
  const { req } = base(0);
  const h = req.inputs[i].runs[0].parts[k].hollow;
  const bytes = Buffer.from((await blob.get(objectKey(SHARD, h.key)))!);
  bytes[Math.floor(bit / 8) % bytes.length] ^= 1 << (bit % 8);
  const key = `flip-${randomUUID()}/p1`;
  await blob.set(objectKey(SHARD, key), bytes);
  h.key = key;
  if (!keepChecksum) h.checksum = '';
  return {
    name: `bit ${bit} flipped${keepChecksum ? '' : ' (no checksum)'}`,
    req,
    expect: keepChecksum ? { code: status.DATA_LOSS } : { anyOf: ['ok', status.DATA_LOSS, status.OUT_OF_RANGE] },
  };
}

const CODE = (c: status | 'ok') => (c === 'ok' ? 'OK' : status[c]);

async function check(c: Case): Promise<void> {
  const a = await raw.compact(c.req);
  const e = c.expect;
  const got = a.code === status.OK ? 'ok' : a.code;
  let rows: Update[] | undefined;
  let len = 0;
  if (a.code === status.OK) {
    // Read and remove the output first, so a failed assertion leaves the store clean for the next run.
    const out = compactResponseFromProto(a.response as never).output!;
    rows = (await readRows(blob, SHARD, out)).flat();
    len = out.len;
    const keys = out.runs.flatMap((r) => r.parts.map((p) => (p as HollowPart).key));
    if (keys.length > 0) expect((await raw.deleteParts({ shard_id: SHARD, keys })).code).toBe(status.OK);
  }
  if ('code' in e) expect(CODE(got), `${c.name}: ${a.details}`).toBe(CODE(e.code));
  else if ('ok' in e) expect(CODE(got), `${c.name}: ${a.details}`).toBe('OK');
  else expect(e.anyOf.map(CODE), `${c.name}: ${a.details}`).toContain(CODE(got));
  if ('ok' in e) {
    expect(rows, c.name).toEqual(e.ok);
    expect(len, c.name).toBe(e.ok.length);
  }
  // Failed or not, nothing the service wrote is left behind.
  expect(await listKeys(blob, `${SHARD}/c`), c.name).toEqual([]);
}

describe('hostile Compact requests', () => {
  it('each gets its documented status, leaves nothing behind, and the server stays up with bounded memory', async () => {
    const rssBefore = process.memoryUsage().rss;
    await fc.assert(fc.asyncProperty(fc.oneof(...cases), check), { numRuns: Number(process.env.HOSTILE_RUNS ?? 150) });
    await fc.assert(
      fc.asyncProperty(inputArb, fc.integer({ min: 0, max: 1 }), fc.nat(100_000), fc.boolean(), async (i, k, bit, keep) => check(await flipped(i, k, bit, keep))),
      { numRuns: Number(process.env.HOSTILE_RUNS ?? 150) >> 2 },
    );

    // Still serving, nothing pending, no worker died, no failure was a bug.
    const h = healthClient(t.server.address);
    try {
      expect((await h.check()).status).toBe('SERVING');
    } finally {
      h.close();
    }
    expect(t.server.pending).toBe(0);
    const m = (await httpGetText(t.server.metricsPort, '/metrics')).body;
    expect(metricSum(m, 'compactd_worker_restarts_total')).toBe(0);
    expect(t.logs.filter((l) => l.kind === 'internal').map((l) => l.error)).toEqual([]);
    // Nothing was written outside the shard, nor outside the store.
    expect(await readdir(root)).toEqual(['store']);
    expect((await readdir(storeDir)).sort()).toEqual([SHARD]);
    // A generous bound: the campaign sends a few MB per request and must not accumulate them.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(512 * 1024 * 1024);
  });
});

describe('hostile DeleteParts requests', () => {
  it('refuses bad keys and keys the service did not write, and changes nothing then', async () => {
    const serviceKey = () => `c${randomUUID()}/p${randomUUID()}`;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(keyArb, fc.constant('SERVICE')), { minLength: 1, maxLength: 6 }), async (raws) => {
        const keys = raws.map((k) => (k === 'SERVICE' ? serviceKey() : k));
        const before = (await listKeys(blob, `${SHARD}/`)).length;
        const a = await raw.deleteParts({ shard_id: SHARD, keys });
        const invalid = keys.some((k) => !contractKey(k) || k.length > LIMITS.maxKeyChars);
        const foreign = keys.some((k) => !/^c[0-9a-f-]{36}\/p[0-9a-f-]{36}$/.test(k));
        const want = invalid ? status.INVALID_ARGUMENT : foreign ? status.PERMISSION_DENIED : status.OK;
        expect(CODE(a.code), `${JSON.stringify(keys)}: ${a.details}`).toBe(CODE(want));
        if (a.code === status.OK) expect(a.response).toMatchObject({ deleted: 0, missing: new Set(keys).size });
        expect((await listKeys(blob, `${SHARD}/`)).length).toBe(before);
      }),
      { numRuns: 80 },
    );
  });
});
