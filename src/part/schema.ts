/**
 * The Arrow schema of a part (docs/contract.md, "Part format"): `k` Binary, `v` Binary, `t` Uint64 (D = 1)
 * or FixedSizeList<Uint64 non-null>[D] (D > 1), `d` Int64, all non-nullable, plus the
 * `compactd.part` metadata.
 */
import {
  Binary,
  DataType,
  Field,
  FixedSizeList,
  Int64,
  Schema,
  Type,
  Uint64,
  type Int,
} from './arrow.js';
import { META_KEY } from './meta.js';

/** The column names, in the order parts are written. */
export const COLUMNS = ['k', 'v', 't', 'd'] as const;

/** The Arrow type of the `t` column for timestamps of `dims` coordinates. */
export function timeType(dims: number): DataType {
  return dims === 1 ? new Uint64() : new FixedSizeList(dims, new Field('item', new Uint64(), false));
}

/** The part schema for `dims` coordinates with `metaJson` as the `compactd.part` metadata. */
export function partSchema(dims: number, metaJson: string): Schema {
  return new Schema(
    [
      new Field('k', new Binary(), false),
      new Field('v', new Binary(), false),
      new Field('t', timeType(dims), false),
      new Field('d', new Int64(), false),
    ],
    new Map([[META_KEY, metaJson]]),
  );
}

/**
 * Why `schema` is not a part schema for `dims` coordinates, or undefined when it is. Fields are
 * matched by name; there must be exactly the four part columns.
 */
export function schemaProblem(schema: Schema, dims: number): string | undefined {
  const fields = schema.fields;
  for (const name of COLUMNS) {
    const n = fields.filter((f) => f.name === name).length;
    if (n !== 1) return n === 0 ? `missing field ${name}` : `duplicate field ${name}`;
  }
  if (fields.length !== COLUMNS.length) {
    const extra = fields.map((f) => f.name).filter((n) => !(COLUMNS as readonly string[]).includes(n));
    return `unexpected field ${JSON.stringify(extra[0])}`;
  }
  for (const f of fields) {
    if (f.nullable) return `field ${f.name} is nullable`;
    const why = typeProblem(f.name, f.type, dims);
    if (why !== undefined) return why;
  }
  return undefined;
}

function typeProblem(name: string, type: DataType, dims: number): string | undefined {
  const got = typeName(type);
  switch (name) {
    case 'k':
    case 'v':
      return type.typeId === Type.Binary ? undefined : `field ${name} has type ${got}, expected Binary`;
    case 'd':
      return isInt(type, 64, true) ? undefined : `field d has type ${got}, expected Int64`;
    case 't': {
      if (dims === 1) {
        return isInt(type, 64, false) ? undefined : `field t has type ${got}, expected Uint64 (dims = 1)`;
      }
      const want = `FixedSizeList<Uint64>[${dims}]`;
      if (type.typeId !== Type.FixedSizeList) return `field t has type ${got}, expected ${want}`;
      const list = type as FixedSizeList;
      if (list.listSize !== dims) return `field t is a list of ${list.listSize} coordinates, metadata says dims = ${dims}`;
      const child = list.children[0];
      if (child === undefined || !isInt(child.type, 64, false)) return `field t has type ${got}, expected ${want}`;
      if (child.nullable) return 'field t has nullable coordinates';
      return undefined;
    }
    default:
      return `unexpected field ${name}`;
  }
}

/** A readable type name; malformed types (a list without a child) cannot always print themselves. */
function typeName(type: DataType): string {
  try {
    return String(type);
  } catch {
    return Type[type.typeId] ?? `type ${type.typeId}`;
  }
}

function isInt(type: DataType, bitWidth: number, signed: boolean): boolean {
  if (type.typeId !== Type.Int) return false;
  const int = type as Int;
  return int.bitWidth === bitWidth && int.isSigned === signed;
}
