/**
 * The messages of compactd.proto as the JSON codec (json.ts) and the ServiceConfig mapping
 * (convert.ts) need them: field names, scalar types, repetition, presence and oneofs. Read by
 * reflection from the same .proto file the gRPC loader reads (protobufjs, which
 * @grpc/proto-loader is built on), so a field added to the .proto reaches the codec without a
 * second edit.
 */
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { internal } from '../model/errors.js';
import { PROTO_RELATIVE_PATH, protoRoot } from './proto-file.js';

export type ScalarType = 'u64' | 'i64' | 'u32' | 'double' | 'bool' | 'string' | 'bytes';
export type FieldType = ScalarType | { readonly enum: string } | { readonly message: string };

export interface FieldSpec {
  /** The name in the .proto (snake_case), also the property of the message object. */
  readonly name: string;
  readonly type: FieldType;
  readonly repeated?: boolean;
  /** proto3 `optional`: has presence. */
  readonly optional?: boolean;
  /** Name of the oneof the field belongs to. */
  readonly oneof?: string;
}

const PACKAGE = 'compactd.v1';

/** The .proto scalar types compactd uses; any other is refused when the schema is read. */
const SCALARS: Readonly<Record<string, ScalarType>> = {
  uint64: 'u64',
  int64: 'i64',
  uint32: 'u32',
  double: 'double',
  bool: 'bool',
  string: 'string',
  bytes: 'bytes',
};

/** A reflected type's name relative to the package: `CompactResponse.Outcome`. */
function localName(t: protobuf.ReflectionObject): string {
  return t.fullName.replace(new RegExp(`^\\.${PACKAGE.replace('.', '\\.')}\\.`), '');
}

function fieldSpec(f: protobuf.Field, owner: string): FieldSpec {
  let type: FieldType;
  if (f.resolvedType instanceof protobuf.Type) type = { message: localName(f.resolvedType) };
  else if (f.resolvedType instanceof protobuf.Enum) type = { enum: localName(f.resolvedType) };
  else if (SCALARS[f.type] !== undefined) type = SCALARS[f.type];
  else throw internal(`${owner}.${f.name}: the JSON codec has no mapping for .proto type ${f.type}`);
  // protobufjs models proto3 `optional` as a synthetic one-field oneof; only real oneofs count as oneofs.
  const optional = f.options?.proto3_optional === true;
  const spec: FieldSpec = { name: f.name, type };
  return {
    ...spec,
    ...(f.repeated ? { repeated: true } : {}),
    ...(optional ? { optional: true } : {}),
    ...(!optional && f.partOf ? { oneof: f.partOf.name } : {}),
  };
}

function walk(ns: protobuf.NamespaceBase, messages: Record<string, FieldSpec[]>, enums: Record<string, string[]>): void {
  for (const nested of ns.nestedArray) {
    if (nested instanceof protobuf.Type) {
      const name = localName(nested);
      messages[name] = nested.fieldsArray.slice().sort((a, b) => a.id - b.id).map((f) => fieldSpec(f, name));
      walk(nested, messages, enums);
    } else if (nested instanceof protobuf.Enum) {
      // Enum names in the order of their numbers: index i is the name of value i (all start at 0).
      enums[localName(nested)] = Object.entries(nested.values).sort(([, a], [, b]) => a - b).map(([n]) => n);
    }
  }
}

function readSchema(): { messages: Record<string, FieldSpec[]>; enums: Record<string, string[]> } {
  const root = new protobuf.Root().loadSync(join(protoRoot(), PROTO_RELATIVE_PATH), { keepCase: true });
  root.resolveAll();
  const messages: Record<string, FieldSpec[]> = {};
  const enums: Record<string, string[]> = {};
  walk(root.lookup(PACKAGE) as protobuf.Namespace, messages, enums);
  return { messages, enums };
}

const schema = readSchema();

/** Every message of the package by its name (`HollowPart`), fields in field-number order. */
export const MESSAGES: Readonly<Record<string, readonly FieldSpec[]>> = schema.messages;

/** Every enum of the package by its name (`RunOrder`, `CompactResponse.Outcome`): value names by number. */
export const ENUMS: Readonly<Record<string, readonly string[]>> = schema.enums;

/** The proto3 JSON name of a field: lowerCamelCase of the snake_case name. */
export function jsonName(protoName: string): string {
  return protoName.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}
