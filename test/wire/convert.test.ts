import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CompactdError } from '../../src/model/errors.js';
import { emptyStats, type CompactRequest } from '../../src/model/batch.js';
import {
  antichainFromProto,
  compactRequestFromProto,
  compactRequestToProto,
  compactResponseFromProto,
  compactResponseToProto,
  deletePartsRequestFromProto,
  deletePartsRequestToProto,
  deletePartsResponseFromProto,
  deletePartsResponseToProto,
  descriptionFromProto,
  hollowBatchFromProto,
  serviceConfigFromProto,
  serviceConfigToProto,
  updateConfigRequestFromProto,
  updateConfigRequestToProto,
  type ServiceConfig,
} from '../../src/wire/convert.js';
import { loadCompactdPackage } from '../../src/wire/load.js';
import { compactRequest, compactResponse, partKey, shardId } from '../model/arb.js';

interface Method {
  requestSerialize(v: unknown): Buffer;
  requestDeserialize(b: Buffer): never;
  responseSerialize(v: unknown): Buffer;
  responseDeserialize(b: Buffer): never;
}
const def = loadCompactdPackage().packageDefinition as unknown as Record<string, Record<string, Method>>;
const compact = def['compactd.v1.Compactor'].Compact;
const deleteParts = def['compactd.v1.Compactor'].DeleteParts;
const getConfig = def['compactd.v1.Admin'].GetConfig;
const updateConfig = def['compactd.v1.Admin'].UpdateConfig;

/** What a server handler receives for `msg`: encoded and decoded by the real loader. */
const overTheWire = (m: Method, msg: unknown) => m.requestDeserialize(m.requestSerialize(msg));

const ts = (...c: (string | number)[]) => ({ coords: c.map(String) });
const ac = (...e: ReturnType<typeof ts>[]) => ({ elements: e });
const desc = (lower = ac(ts(0)), upper = ac(ts(10)), since = ac(ts(0))) => ({ lower, upper, since });
const hollow = (over: Record<string, unknown> = {}) => ({ hollow: { key: 'w1/p1', encoded_size_bytes: '10', updates: '2', ...over } });
const batch = (over: Record<string, unknown> = {}) => ({ desc: desc(), runs: [{ parts: [hollow()], order: 'RUN_ORDER_ORDERED' }], len: '2', ...over });
const request = (over: Record<string, unknown> = {}) => ({ shard_id: 's1', desc: desc(), inputs: [batch()], ...over });

function invalidMessage(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(CompactdError);
    expect((err as CompactdError).kind).toBe('invalid');
    return (err as Error).message;
  }
  throw new Error('expected an invalid error');
}

describe('round trips through the real protobuf encoding', () => {
  it('CompactRequest: domain -> proto -> bytes -> proto -> domain is the identity', () => {
    fc.assert(
      fc.property(compactRequest(), (req) => {
        const decoded = compactRequestFromProto(overTheWire(compact, compactRequestToProto(req)));
        expect(decoded).toEqual(req);
      }),
      { numRuns: 100 },
    );
  });

  it('CompactResponse round-trips, skipped ones without output', () => {
    fc.assert(
      fc.property(compactResponse(), (resp) => {
        const wire = compact.responseDeserialize(compact.responseSerialize(compactResponseToProto(resp)));
        expect(compactResponseFromProto(wire)).toEqual(resp);
      }),
      { numRuns: 100 },
    );
  });

  it('DeleteParts request and response round-trip', () => {
    fc.assert(
      fc.property(shardId(), fc.array(partKey(), { maxLength: 5 }), fc.nat({ max: 1000 }), fc.nat({ max: 1000 }), (s, keys, deleted, missing) => {
        expect(deletePartsRequestFromProto(overTheWire(deleteParts, deletePartsRequestToProto({ shardId: s, keys })))).toEqual({ shardId: s, keys });
        const resp = deleteParts.responseDeserialize(deleteParts.responseSerialize(deletePartsResponseToProto({ deleted, missing })));
        expect(deletePartsResponseFromProto(resp)).toEqual({ deleted, missing });
      }),
      { numRuns: 50 },
    );
  });

  it('ServiceConfig and UpdateConfigRequest round-trip; unset update fields stay unset', () => {
    const cfg: ServiceConfig = {
      enabled: true,
      queueSize: 20,
      concurrencyLimit: 5,
      heuristicMinInputs: 8,
      heuristicMinParts: 8,
      heuristicMinUpdates: 1024,
      minimumTimeoutSeconds: 90,
      memoryBoundBytes: 2 ** 40,
      stallTimeoutSeconds: 12.5,
      targetPartBytes: 128 * 2 ** 20,
    };
    const wire = getConfig.responseDeserialize(getConfig.responseSerialize(serviceConfigToProto(cfg)));
    expect(serviceConfigFromProto(wire)).toEqual(cfg);

    const patch = { enabled: false, heuristicMinUpdates: 0, memoryBoundBytes: 2 ** 53 - 1 };
    expect(updateConfigRequestFromProto(overTheWire(updateConfig, updateConfigRequestToProto(patch)))).toEqual(patch);
    expect(updateConfigRequestFromProto(overTheWire(updateConfig, {}))).toEqual({});
  });

  it('a response without stats reads as zero stats', () => {
    const wire = compact.responseDeserialize(compact.responseSerialize({ outcome: 'SKIPPED' }));
    expect(compactResponseFromProto(wire)).toEqual({ outcome: 'skipped', stats: emptyStats() });
  });
});

describe('decoding', () => {
  it('keeps the optional diffs_sum absent when not sent and present when zero', () => {
    const absent = compactRequestFromProto(overTheWire(compact, request()));
    const part0 = absent.inputs[0].runs[0].parts[0];
    expect(part0.kind === 'hollow' && 'diffsSum' in part0).toBe(false);
    const zero = compactRequestFromProto(overTheWire(compact, request({ inputs: [batch({ runs: [{ parts: [hollow({ diffs_sum: '0' })] }] })] })));
    const part1 = zero.inputs[0].runs[0].parts[0];
    expect(part1.kind === 'hollow' && part1.diffsSum).toBe(0n);
  });

  it('puts antichains in normal form and accepts the empty frontier', () => {
    const d = descriptionFromProto({ lower: ac(ts(0, 5), ts(5, 0)), upper: ac(), since: ac(ts(5, 0), ts(0, 5)) });
    expect(d.lower).toEqual([[0n, 5n], [5n, 0n]]);
    expect(d.since).toEqual(d.lower);
    expect(d.upper).toEqual([]);
  });

  it('reads numeric enum values that the loader passes through', () => {
    const r = compactRequestFromProto(request({ inputs: [batch({ runs: [{ parts: [], order: 1 }] })] }) as never);
    expect(r.inputs[0].runs[0].order).toBe('unordered');
  });

  const cases: [string, () => unknown, RegExp][] = [
    ['missing desc', () => compactRequestFromProto(overTheWire(compact, request({ desc: null }))), /^desc: missing$/],
    ['missing input desc', () => compactRequestFromProto(overTheWire(compact, request({ inputs: [batch(), batch({ desc: null })] }))), /^inputs\[1\]\.desc: missing$/],
    ['missing upper', () => compactRequestFromProto(overTheWire(compact, request({ desc: { lower: ac(ts(0)), since: ac(ts(0)) } }))), /^desc\.upper: missing$/],
    ['bad u64 string', () => compactRequestFromProto(request({ inputs: [batch({ len: '12a' })] }) as never), /^inputs\[0\]\.len: "12a" is not an unsigned 64-bit integer$/],
    ['negative u64', () => compactRequestFromProto(request({ inputs: [batch(), batch({ runs: [{ parts: [hollow(), hollow({ encoded_size_bytes: '-1' })] }] })] }) as never), /^inputs\[1\]\.runs\[0\]\.parts\[1\]\.hollow\.encodedSizeBytes: -1 is negative$/],
    ['count past 2^53', () => compactRequestFromProto(overTheWire(compact, request({ inputs: [batch({ runs: [{ parts: [hollow({ updates: '9007199254740992' })] }] })] }))), /^inputs\[0\]\.runs\[0\]\.parts\[0\]\.hollow\.updates: 9007199254740992 exceeds 2\^53 - 1/],
    ['u64 past the range', () => compactRequestFromProto(request({ desc: desc(ac(ts('18446744073709551616'))) }) as never), /^desc\.lower\.elements\[0\]\.coords\[0\]: 18446744073709551616 exceeds the uint64 range$/],
    ['i64 past the range', () => compactRequestFromProto(request({ inputs: [batch({ runs: [{ parts: [hollow({ diffs_sum: '9223372036854775808' })] }] })] }) as never), /hollow\.diffsSum: 9223372036854775808 leaves the int64 range$/],
    ['part with neither', () => compactRequestFromProto(overTheWire(compact, request({ inputs: [batch({ runs: [{ parts: [hollow(), {}] }] })] }))), /^inputs\[0\]\.runs\[0\]\.parts\[1\]: a part needs one of hollow or inline$/],
    ['part with both', () => compactRequestFromProto(request({ inputs: [batch({ runs: [{ parts: [{ ...hollow(), inline: { data: Buffer.from('x') } }] }] })] }) as never), /parts\[0\]: a part is either hollow or inline, not both$/],
    ['empty inline', () => compactRequestFromProto(overTheWire(compact, request({ inputs: [batch({ runs: [{ parts: [{ inline: {} }] }] })] }))), /parts\[0\]\.inline\.data: an inline part needs its encoded bytes$/],
    ['unknown run order', () => compactRequestFromProto(overTheWire(compact, request({ inputs: [batch({ runs: [{ parts: [], order: 7 }] })] }))), /^inputs\[0\]\.runs\[0\]\.order: unknown run order 7$/],
    ['comparable elements', () => compactRequestFromProto(overTheWire(compact, request({ desc: desc(ac(ts(1), ts(2))) }))), /^desc\.lower: \{1, 2\} is not an antichain/],
    ['duplicate elements', () => compactRequestFromProto(overTheWire(compact, request({ desc: desc(ac(ts(1, 2), ts(1, 2))) }))), /^desc\.lower: .* is not an antichain/],
    ['partial-order comparable', () => antichainFromProto(ac(ts(1, 1), ts(2, 3)), 'since'), /^since: \{\(1,1\), \(2,3\)\} is not an antichain/],
    ['mixed dims in an antichain', () => antichainFromProto(ac(ts(1), ts(0, 2)), 'upper'), /^upper\.elements: timestamps of different dimensions \(1 and 2\)$/],
    ['mixed dims in a description', () => descriptionFromProto(desc(ac(ts(0)), ac(ts(1, 1)))), /^upper: has 2 coordinates where the description has 1$/],
    ['timestamp without coordinates', () => antichainFromProto(ac({ coords: [] }), 'lower'), /^lower\.elements\[0\]\.coords: a timestamp needs at least one coordinate$/],
    ['bad shard id', () => compactRequestFromProto(overTheWire(compact, request({ shard_id: '../etc' }))), /^shardId: bad shard id/],
    ['empty shard id', () => compactRequestFromProto(overTheWire(compact, request({ shard_id: '' }))), /^shardId: bad shard id/],
    ['traversal key', () => compactRequestFromProto(overTheWire(compact, request({ inputs: [batch({ runs: [{ parts: [hollow({ key: 'a/../../b' })] }] })] }))), /parts\[0\]\.hollow\.key: bad part key .*traversal/],
    ['key_lower too long', () => compactRequestFromProto(overTheWire(compact, request({ inputs: [batch({ runs: [{ parts: [hollow({ key_lower: Buffer.alloc(101) })] }] })] }))), /hollow\.keyLower: 101 bytes, more than 100$/],
    ['bad checksum', () => compactRequestFromProto(overTheWire(compact, request({ inputs: [batch({ runs: [{ parts: [hollow({ checksum: 'md5:abc' })] }] })] }))), /hollow\.checksum: "md5:abc" is not "sha256:" followed by 64 hex digits$/],
    ['wrong JS type', () => compactRequestFromProto(request({ force: 'yes' }) as never), /^force: expected a boolean, got "yes"$/],
    ['unspecified outcome', () => compactResponseFromProto(compact.responseDeserialize(compact.responseSerialize({}))), /^outcome: unknown or unspecified outcome "OUTCOME_UNSPECIFIED"$/],
    ['compacted without output', () => compactResponseFromProto(compact.responseDeserialize(compact.responseSerialize({ outcome: 'COMPACTED' }))), /^output: missing for a compacted response$/],
    ['delete of a bad key', () => deletePartsRequestFromProto(overTheWire(deleteParts, { shard_id: 's', keys: ['ok', '/abs'] })), /^keys\[1\]: bad part key/],
    ['negative timeout', () => serviceConfigFromProto(serviceConfigToProto({ ...serviceConfigFromProto(getConfig.responseDeserialize(getConfig.responseSerialize({}))), minimumTimeoutSeconds: -1 }) as never), /^minimumTimeoutSeconds: -1 is negative$/],
    ['null message', () => hollowBatchFromProto(null), /^missing$/],
  ];

  it.each(cases)('%s is invalid with a message naming the field', (_name, f, re) => {
    const msg = invalidMessage(f);
    expect(msg).toMatch(re);
    expect(msg).not.toContain('\n');
  });

  it('accepts upper-case checksum hex and stores it lower-case', () => {
    const H = 'A'.repeat(64);
    const r = compactRequestFromProto(overTheWire(compact, request({ inputs: [batch({ runs: [{ parts: [hollow({ checksum: `sha256:${H}` })] }] })] })));
    const p = r.inputs[0].runs[0].parts[0];
    expect(p.kind === 'hollow' && p.checksum).toBe(`sha256:${'a'.repeat(64)}`);
  });

  it('encoding a non-integer count is a bug, not a malformed message', () => {
    const req: CompactRequest = { shardId: 's', desc: { lower: [], upper: [], since: [] }, inputs: [{ desc: { lower: [], upper: [], since: [] }, runs: [], len: 1.5 }], force: false, requestId: '' };
    expect(() => compactRequestToProto(req)).toThrow(expect.objectContaining({ kind: 'internal' }));
  });
});
