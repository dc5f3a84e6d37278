/**
 * Server reflection for every service the gRPC port serves: compactd.v1 (Compactor, Admin),
 * grpc.health.v1.Health and the reflection services themselves.
 *
 * @grpc/reflection indexes whatever FileDescriptorProtos it is given. The ones @grpc/proto-loader
 * produces are not what protoc would: files are renamed after their package (compactd_v1 instead of the import path),
 * type references are relative, and proto3 `optional` fields come out as real oneofs without
 * `proto3_optional`. Clients that rebuild types from reflection (grpcurl, Postman, grpcui) then
 * see a different API than the .proto. So this module builds the descriptors itself from the
 * parsed .proto files, the way protoc lays them out: files named by their import path, fully
 * qualified type names, `json_name`, map entries as nested `<Field>Entry` messages, and each
 * proto3 `optional` field flagged `proto3_optional` inside a synthetic oneof that follows the real
 * oneofs of its message.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Server } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { internal } from '../model/errors.js';
import { PROTO_RELATIVE_PATH, protoRoot } from '../wire/load.js';

/** A .proto file: the name clients see (its import path) and where it lies on disk. */
export interface ProtoSource {
  readonly name: string;
  readonly path: string;
}

/** The .proto files of everything the server's port serves. */
export function servedProtoFiles(): ProtoSource[] {
  const reflectionBuild = join(dirname(createRequire(import.meta.url).resolve('@grpc/reflection')), '..', 'proto');
  return [
    { name: PROTO_RELATIVE_PATH, path: join(protoRoot(), PROTO_RELATIVE_PATH) },
    // grpc-health-check ships the file under `health/v1/`; its canonical import path is the one below.
    { name: 'grpc/health/v1/health.proto', path: healthProtoPath },
    { name: 'grpc/reflection/v1/reflection.proto', path: join(reflectionBuild, 'grpc/reflection/v1/reflection.proto') },
    { name: 'grpc/reflection/v1alpha/reflection.proto', path: join(reflectionBuild, 'grpc/reflection/v1alpha/reflection.proto') },
  ];
}

// google.protobuf.FieldDescriptorProto.Type and .Label numbers.
const SCALAR_TYPES: Readonly<Record<string, number>> = Object.freeze({
  double: 1,
  float: 2,
  int64: 3,
  uint64: 4,
  int32: 5,
  fixed64: 6,
  fixed32: 7,
  bool: 8,
  string: 9,
  bytes: 12,
  uint32: 13,
  sfixed32: 15,
  sfixed64: 16,
  sint32: 17,
  sint64: 18,
});
const TYPE_MESSAGE = 11;
const TYPE_ENUM = 14;
const LABEL_OPTIONAL = 1;
const LABEL_REPEATED = 3;

// Plain descriptor objects in protobufjs's field naming (camelCase), encoded by protobufjs's
// descriptor types. Only the parts protoc fills for files like ours are modelled.
interface FieldProto {
  name: string;
  number: number;
  label: number;
  type: number;
  typeName?: string;
  jsonName: string;
  oneofIndex?: number;
  proto3Optional?: boolean;
  options?: Record<string, unknown>;
}
interface MessageProto {
  name: string;
  field: FieldProto[];
  nestedType: MessageProto[];
  enumType: EnumProto[];
  oneofDecl: { name: string }[];
  reservedRange: { start: number; end: number }[];
  reservedName: string[];
  options?: Record<string, unknown>;
}
interface EnumProto {
  name: string;
  value: { name: string; number: number }[];
}
interface ServiceProto {
  name: string;
  method: { name: string; inputType: string; outputType: string; clientStreaming?: boolean; serverStreaming?: boolean }[];
}
/** A FileDescriptorProto as plain data (protobufjs field names). */
export interface FileProto {
  name: string;
  package: string;
  dependency: string[];
  messageType: MessageProto[];
  enumType: EnumProto[];
  service: ServiceProto[];
  options?: Record<string, unknown>;
  syntax: string;
}

/** protoc's json_name: underscores dropped, the letter after each one upper-cased. */
function jsonName(name: string): string {
  return name.replace(/_+([a-zA-Z0-9]?)/g, (_, c: string) => c.toUpperCase());
}

/** protoc's name of a map field's entry message: `statuses` -> `StatusesEntry`. */
function mapEntryName(field: string): string {
  const camel = jsonName(field);
  return `${camel.charAt(0).toUpperCase()}${camel.slice(1)}Entry`;
}

function snakeToCamel(name: string): string {
  return name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The options of `obj` that the descriptor type `optionsType` knows, in its field naming. */
function optionsOf(obj: protobuf.ReflectionObject, optionsType: protobuf.Type): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj.options ?? {})) {
    const camel = snakeToCamel(key);
    if (optionsType.fields[camel]) out[camel] = value;
  }
  return Object.keys(out).length ? out : undefined;
}

function isSynthetic(oneof: protobuf.OneOf): boolean {
  return oneof.fieldsArray.length === 1 && oneof.fieldsArray[0].options?.proto3_optional === true;
}

function typeRef(field: protobuf.Field): { type: number; typeName?: string } {
  const scalar = SCALAR_TYPES[field.type];
  if (scalar !== undefined) return { type: scalar };
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) return { type: TYPE_ENUM, typeName: resolved.fullName };
  if (resolved instanceof protobuf.Type) return { type: TYPE_MESSAGE, typeName: resolved.fullName };
  throw internal(`reflection: field ${field.fullName} has unresolved type ${field.type}`);
}

function enumProto(e: protobuf.Enum): EnumProto {
  return { name: e.name, value: Object.entries(e.values).map(([name, number]) => ({ name, number })) };
}

function messageProto(type: protobuf.Type, refs: Set<protobuf.ReflectionObject>): MessageProto {
  const msg: MessageProto = {
    name: type.name,
    field: [],
    nestedType: [],
    enumType: [],
    oneofDecl: [],
    reservedRange: [],
    reservedName: [],
  };
  // protoc numbers the real oneofs first (declaration order), then one synthetic oneof per proto3
  // optional field, in field order.
  const oneofs = type.oneofsArray.filter((o) => !isSynthetic(o));
  const synthetic = type.fieldsArray.filter((f) => f.partOf && isSynthetic(f.partOf)).map((f) => f.partOf as protobuf.OneOf);
  for (const o of [...oneofs, ...synthetic]) msg.oneofDecl.push({ name: o.name });

  for (const field of type.fieldsArray) {
    field.resolve();
    const out: FieldProto = {
      name: field.name,
      number: field.id,
      label: field.repeated || field.map ? LABEL_REPEATED : LABEL_OPTIONAL,
      type: TYPE_MESSAGE,
      jsonName: jsonName(field.name),
    };
    if (field instanceof protobuf.MapField) {
      const entry = mapEntryName(field.name);
      out.typeName = `${type.fullName}.${entry}`;
      const value = typeRef(field);
      if (field.resolvedType) refs.add(field.resolvedType);
      msg.nestedType.push({
        name: entry,
        field: [
          { name: 'key', number: 1, label: LABEL_OPTIONAL, type: SCALAR_TYPES[field.keyType], jsonName: 'key' },
          { name: 'value', number: 2, label: LABEL_OPTIONAL, ...value, jsonName: 'value' },
        ],
        nestedType: [],
        enumType: [],
        oneofDecl: [],
        reservedRange: [],
        reservedName: [],
        options: { mapEntry: true },
      });
    } else {
      Object.assign(out, typeRef(field));
      if (field.resolvedType) refs.add(field.resolvedType);
    }
    if (field.partOf) {
      out.oneofIndex = msg.oneofDecl.findIndex((d) => d.name === field.partOf?.name);
      if (isSynthetic(field.partOf)) out.proto3Optional = true;
    }
    const options = optionsOf(field, descriptor.FieldOptions);
    if (options) out.options = options;
    msg.field.push(out);
  }
  for (const nested of type.nestedArray) {
    if (nested instanceof protobuf.Type) msg.nestedType.push(messageProto(nested, refs));
    else if (nested instanceof protobuf.Enum) msg.enumType.push(enumProto(nested));
  }
  for (const r of type.reserved ?? []) {
    // protobufjs keeps ranges inclusive; descriptors end them exclusively.
    if (typeof r === 'string') msg.reservedName.push(r);
    else msg.reservedRange.push({ start: r[0], end: r[1] + 1 });
  }
  const options = optionsOf(type, descriptor.MessageOptions);
  if (options) msg.options = options;
  return msg;
}

function serviceProto(service: protobuf.Service, refs: Set<protobuf.ReflectionObject>): ServiceProto {
  return {
    name: service.name,
    method: service.methodsArray.map((m) => {
      m.resolve();
      if (m.resolvedRequestType) refs.add(m.resolvedRequestType);
      if (m.resolvedResponseType) refs.add(m.resolvedResponseType);
      return {
        name: m.name,
        inputType: (m.resolvedRequestType as protobuf.Type).fullName,
        outputType: (m.resolvedResponseType as protobuf.Type).fullName,
        ...(m.requestStream ? { clientStreaming: true } : {}),
        ...(m.responseStream ? { serverStreaming: true } : {}),
      };
    }),
  };
}

/** The file an object was declared in (protobufjs records it on each top-level object). */
function fileOf(obj: protobuf.ReflectionObject): string | null {
  let o: protobuf.ReflectionObject | null = obj;
  while (o && !o.filename) o = o.parent;
  return o?.filename ?? null;
}

/**
 * Parses `sources` (which may import each other by their names) and returns one
 * FileDescriptorProto per file, laid out as protoc lays it out (see the module comment).
 */
export function buildFileDescriptors(sources: readonly ProtoSource[]): FileProto[] {
  const byName = new Map(sources.map((s) => [s.name, s.path]));
  const nameOfPath = new Map(sources.map((s) => [s.path, s.name]));
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => byName.get(target) ?? target;
  root.loadSync(sources.map((s) => s.path), { keepCase: true });
  root.resolveAll();

  const files = new Map<string, { proto: FileProto; refs: Set<protobuf.ReflectionObject> }>();
  for (const s of sources) {
    files.set(s.path, {
      proto: { name: s.name, package: '', dependency: [], messageType: [], enumType: [], service: [], syntax: 'proto3' },
      refs: new Set(),
    });
  }
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const nested of ns.nestedArray) {
      const path = fileOf(nested);
      const file = path === null ? undefined : files.get(path);
      if (nested instanceof protobuf.Type || nested instanceof protobuf.Enum || nested instanceof protobuf.Service) {
        if (!file) throw internal(`reflection: ${nested.fullName} comes from no known file`);
        file.proto.package = ns.fullName.slice(1);
        if (nested instanceof protobuf.Type) file.proto.messageType.push(messageProto(nested, file.refs));
        else if (nested instanceof protobuf.Enum) file.proto.enumType.push(enumProto(nested));
        else file.proto.service.push(serviceProto(nested, file.refs));
      } else if (nested instanceof protobuf.Namespace) {
        visit(nested);
      }
    }
  };
  visit(root);

  const out: FileProto[] = [];
  for (const [path, { proto, refs }] of files) {
    const deps = new Set<string>();
    for (const ref of refs) {
      const from = fileOf(ref);
      const name = from === null ? undefined : nameOfPath.get(from);
      if (name !== undefined && from !== path) deps.add(name);
    }
    proto.dependency = [...deps].sort();
    // File-level options are kept on the package namespace by protobufjs.
    const pkg = proto.package ? root.lookup(proto.package) : null;
    const options = pkg ? optionsOf(pkg, descriptor.FileOptions) : undefined;
    if (options) proto.options = options;
    out.push(proto);
  }
  return out;
}

/** Encodes one FileDescriptorProto. */
export function encodeFileDescriptor(file: FileProto): Uint8Array {
  return descriptor.FileDescriptorProto.encode(descriptor.FileDescriptorProto.fromObject(file)).finish();
}

/**
 * Adds the reflection services (v1 and v1alpha) to `server`, describing exactly the files of
 * `servedProtoFiles()`.
 */
export function addReflection(server: Server): void {
  const encoded = buildFileDescriptors(servedProtoFiles()).map((f) => Buffer.from(encodeFileDescriptor(f)));
  // @grpc/reflection reads only the `fileDescriptorProtos` of each entry of a package definition.
  const definition: PackageDefinition = {
    descriptors: {
      format: 'Protocol Buffer 3 DescriptorProto',
      type: {},
      fileDescriptorProtos: encoded,
      // Never called: reflection serves descriptors, it serializes no message of this entry.
      serialize: () => Buffer.alloc(0),
      deserialize: () => ({}),
    },
  };
  new ReflectionService(definition).addToServer(server);
}
