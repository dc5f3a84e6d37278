import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOADER_OPTIONS, loadCompactdPackage } from '../../src/wire/load.js';
import { ENUMS, MESSAGES, type FieldSpec } from '../../src/wire/json.js';

const ROOT = join(import.meta.dirname, '..', '..');

interface FieldDescriptor {
  name: string;
  label: string;
  type: string;
  typeName: string;
}
interface MessageDescriptor {
  field: FieldDescriptor[];
  oneofDecl: { name: string }[];
  enumType: { name: string; value: { name: string; number: number }[] }[];
}

const SCALARS: Record<string, string> = {
  TYPE_UINT64: 'u64',
  TYPE_INT64: 'i64',
  TYPE_UINT32: 'u32',
  TYPE_DOUBLE: 'double',
  TYPE_BOOL: 'bool',
  TYPE_STRING: 'string',
  TYPE_BYTES: 'bytes',
};

function specOf(f: FieldDescriptor, owner: string, d: MessageDescriptor): Omit<FieldSpec, 'optional' | 'oneof'> {
  const repeated = f.label === 'LABEL_REPEATED' ? { repeated: true } : {};
  if (f.type === 'TYPE_MESSAGE') return { name: f.name, type: { message: f.typeName }, ...repeated };
  if (f.type === 'TYPE_ENUM') {
    // Nested enums are named relative to their message in the descriptor.
    const nested = d.enumType.some((e) => e.name === f.typeName);
    return { name: f.name, type: { enum: nested ? `${owner}.${f.typeName}` : f.typeName }, ...repeated };
  }
  return { name: f.name, type: SCALARS[f.type] as FieldSpec['type'], ...repeated };
}

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else out.push(p);
  }
  return out;
}

describe('loadCompactdPackage', () => {
  it('loads both services and every message from the proto beside the sources', () => {
    const pkg = loadCompactdPackage();
    expect(existsSync(pkg.protoPath)).toBe(true);
    expect(relative(ROOT, pkg.protoPath)).toBe(join('proto', 'compactd', 'v1', 'compactd.proto'));
    const def = pkg.packageDefinition;
    expect(Object.keys(def['compactd.v1.Compactor'])).toEqual(['Compact', 'DeleteParts', 'CompactStream', 'CancelCompaction', 'ListCompactions']);
    expect(Object.keys(def['compactd.v1.Admin'])).toEqual(['GetConfig', 'UpdateConfig']);
    expect(loadCompactdPackage()).toBe(pkg);
  });

  it('uses the loader options the generated types assume', () => {
    expect(LOADER_OPTIONS).toMatchObject({ keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  });

  it('keeps the .proto field names in the descriptors served by reflection', () => {
    const def = loadCompactdPackage().packageDefinition['compactd.v1.HollowPart'] as unknown as {
      fileDescriptorProtos: Buffer[];
    };
    const text = Buffer.concat(def.fileDescriptorProtos).toString('latin1');
    expect(text).toContain('encoded_size_bytes');
    expect(text).toContain('shard_id');
    expect(text).not.toContain('shardId');
  });
});

describe('JSON schema table', () => {
  const def = loadCompactdPackage().packageDefinition as unknown as Record<string, { format: string; type: MessageDescriptor }>;
  const messageTypes = Object.keys(def)
    .filter((k) => def[k].format === 'Protocol Buffer 3 DescriptorProto')
    .map((k) => k.replace(/^compactd\.v1\./, ''));

  it('covers exactly the messages of the .proto', () => {
    expect(Object.keys(MESSAGES).sort()).toEqual([...messageTypes].sort());
  });

  it.each(Object.keys(MESSAGES))('%s matches the descriptor field by field', (type) => {
    const d = def[`compactd.v1.${type}`].type;
    const table = MESSAGES[type].map(({ optional: _o, oneof: _g, ...rest }) => rest);
    expect(table).toEqual(d.field.map((f) => specOf(f, type, d)));
    // Oneof declarations: real oneofs plus the synthetic `_<name>` of each proto3 optional field.
    const decls = new Set<string>();
    for (const f of MESSAGES[type]) {
      if (f.oneof) decls.add(f.oneof);
      if (f.optional) decls.add(`_${f.name}`);
    }
    expect([...decls].sort()).toEqual(d.oneofDecl.map((o) => o.name).sort());
  });

  it('lists every enum value in number order', () => {
    const runOrder = (def['compactd.v1.RunOrder'] as unknown as { type: { value: { name: string; number: number }[] } }).type;
    expect(ENUMS.RunOrder).toEqual(runOrder.value.map((v) => v.name));
    expect(runOrder.value.map((v) => v.number)).toEqual(runOrder.value.map((_v, i) => i));
    const outcome = def['compactd.v1.CompactResponse'].type.enumType.find((e) => e.name === 'Outcome')!;
    expect(ENUMS['CompactResponse.Outcome']).toEqual(outcome.value.map((v) => v.name));
    expect(outcome.value.map((v) => v.number)).toEqual(outcome.value.map((_v, i) => i));
  });
});

describe('generated bindings', () => {
  it('src/gen is what the generator produces from the current .proto', () => {
    const out = mkdtempSync(join(tmpdir(), 'compactd-gen-'));
    try {
      const res = spawnSync(process.execPath, [join(ROOT, 'scripts', 'gen-proto.mjs'), '--out', out], { encoding: 'utf8' });
      expect(res.status, res.stderr).toBe(0);
      const fresh = files(out).map((f) => relative(out, f));
      const committed = files(join(ROOT, 'src', 'gen')).map((f) => relative(join(ROOT, 'src', 'gen'), f));
      expect(committed).toEqual(fresh);
      for (const f of fresh) {
        expect(readFileSync(join(ROOT, 'src', 'gen', f), 'utf8'), f).toBe(readFileSync(join(out, f), 'utf8'));
      }
      // NodeNext ESM: every relative import names a .js file.
      for (const f of fresh) {
        const text = readFileSync(join(out, f), 'utf8');
        for (const m of text.matchAll(/from '(\.[^']*)'/g)) expect(m[1], f).toMatch(/\.js$/);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
