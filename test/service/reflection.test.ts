/**
 * Server reflection driven the way grpcurl drives it, over a real loopback socket: list the
 * services, resolve the file of each (and the files it depends on), decode the descriptors, and
 * call methods through types built only from what reflection returned.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadFileDescriptorSetFromBuffer, loadSync } from '@grpc/proto-loader';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './harness.js';

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}
type Stream = grpc.ClientDuplexStream<object, ReflectionResponse>;

/** A reflection client speaking grpc.reflection.v1 from the reflection .proto itself. */
class ReflectionClient {
  private readonly client: grpc.Client & { ServerReflectionInfo(): Stream };
  private readonly stream: Stream;
  private readonly waiting: ((r: ReflectionResponse) => void)[] = [];

  constructor(address: string) {
    const file = path.join(
      path.dirname(createRequire(import.meta.url).resolve('@grpc/reflection/package.json')),
      'build/proto/grpc/reflection/v1/reflection.proto',
    );
    const def = loadSync(file, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
    const Ctor = (grpc.loadPackageDefinition(def) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: new (a: string, c: grpc.ChannelCredentials) => ReflectionClient['client'] } } };
    }).grpc.reflection.v1.ServerReflection;
    this.client = new Ctor(address, grpc.credentials.createInsecure());
    this.stream = this.client.ServerReflectionInfo();
    this.stream.on('data', (r: ReflectionResponse) => this.waiting.shift()?.(r));
  }

  /** One request on the shared stream, as grpcurl sends them, and its answer. */
  ask(request: object): Promise<ReflectionResponse> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.stream.write(request);
    });
  }

  async files(request: object): Promise<FileLike[]> {
    const res = await this.ask(request);
    if (res.error_response) throw new Error(`${JSON.stringify(request)}: ${res.error_response.error_message}`);
    return res.file_descriptor_response!.file_descriptor_proto.map(
      (b) => descriptor.FileDescriptorProto.toObject(descriptor.FileDescriptorProto.decode(b), { defaults: false }) as FileLike,
    );
  }

  close(): void {
    this.stream.end();
    this.client.close();
  }
}

// The shape of a decoded FileDescriptorProto (protobufjs field names), as far as the test reads it.
interface MessageLike {
  name: string;
  field?: { name: string; number: number; typeName?: string; oneofIndex?: number; proto3Optional?: boolean; jsonName?: string }[];
  oneofDecl?: { name: string }[];
  nestedType?: MessageLike[];
}
interface FileLike {
  name: string;
  package?: string;
  dependency?: string[];
  messageType?: MessageLike[];
  service?: { name: string; method: { name: string; inputType: string; outputType: string }[] }[];
  syntax?: string;
}

const OPTIONAL_FIELDS = [
  'HollowPart.diffs_sum',
  ...[
    'enabled',
    'queue_size',
    'concurrency_limit',
    'heuristic_min_inputs',
    'heuristic_min_parts',
    'heuristic_min_updates',
    'minimum_timeout_seconds',
    'memory_bound_bytes',
    'target_part_bytes',
    'stall_timeout_seconds',
  ].map((f) => `UpdateConfigRequest.${f}`),
];

describe('server reflection', () => {
  let dir: string;
  let t: TestServer;
  let r: ReflectionClient;
  /** Every file reflection returned, by name, gathered the way grpcurl resolves a service. */
  const files = new Map<string, FileLike>();
  let services: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'compactd-reflection-'));
    t = await startTestServer(pathToFileURL(dir).href);
    r = new ReflectionClient(t.server.address);
    services = (await r.ask({ host: '', list_services: '*' })).list_services_response!.service.map((s) => s.name);
    for (const name of services) {
      for (const f of await r.files({ file_containing_symbol: name })) files.set(f.name, f);
    }
    // Then every dependency by file name, as a client does to complete the descriptor set.
    const pending = [...files.values()].flatMap((f) => f.dependency ?? []);
    while (pending.length > 0) {
      const dep = pending.pop()!;
      if (files.has(dep)) continue;
      for (const f of await r.files({ file_by_filename: dep })) {
        files.set(f.name, f);
        pending.push(...(f.dependency ?? []));
      }
    }
  });

  afterAll(async () => {
    r?.close();
    await t?.server.shutdown(0);
    await rm(dir, { recursive: true, force: true });
  });

  it('lists every service the port serves, health included', () => {
    expect([...services].sort()).toEqual([
      'compactd.v1.Admin',
      'compactd.v1.Compactor',
      'grpc.health.v1.Health',
      'grpc.reflection.v1.ServerReflection',
      'grpc.reflection.v1alpha.ServerReflection',
    ]);
  });

  it('names each file by its import path and package', async () => {
    expect([...files.keys()].sort()).toEqual([
      'compactd/v1/compactd.proto',
      'grpc/health/v1/health.proto',
      'grpc/reflection/v1/reflection.proto',
      'grpc/reflection/v1alpha/reflection.proto',
    ]);
    const compactd = files.get('compactd/v1/compactd.proto')!;
    expect(compactd).toMatchObject({ package: 'compactd.v1', syntax: 'proto3' });
    expect(compactd.service!.map((s) => s.name)).toEqual(['Compactor', 'Admin']);
    expect(files.get('grpc/health/v1/health.proto')!.service!.map((s) => s.name)).toEqual(['Health']);
    // Each method resolves by its full name too (grpcurl describe compactd.v1.Compactor.Compact).
    const [byMethod] = await r.files({ file_containing_symbol: 'compactd.v1.Compactor.Compact' });
    expect(byMethod.name).toBe('compactd/v1/compactd.proto');
    const [byFile] = await r.files({ file_by_filename: 'compactd/v1/compactd.proto' });
    expect(byFile.name).toBe('compactd/v1/compactd.proto');
  });

  it('refers to types by fully qualified names', () => {
    for (const f of files.values()) {
      for (const m of f.messageType ?? []) for (const fd of m.field ?? []) if (fd.typeName) expect(fd.typeName).toMatch(/^\./);
      for (const s of f.service ?? []) for (const m of s.method) expect([m.inputType, m.outputType].every((n) => n.startsWith('.'))).toBe(true);
    }
  });

  it('describes proto3 optional fields as protoc does: proto3_optional in a synthetic oneof after the real ones', () => {
    const compactd = files.get('compactd/v1/compactd.proto')!;
    const optional: string[] = [];
    for (const m of compactd.messageType ?? []) {
      const decls = m.oneofDecl ?? [];
      let seenSynthetic = false;
      decls.forEach((d, i) => {
        const members = (m.field ?? []).filter((f) => f.oneofIndex === i);
        const synthetic = members.length === 1 && members[0].proto3Optional === true;
        if (synthetic) {
          expect(d.name).toBe(`_${members[0].name}`);
          seenSynthetic = true;
        } else {
          // A real oneof: no member is flagged optional, and none follows a synthetic one.
          expect(seenSynthetic).toBe(false);
          expect(members.every((f) => !f.proto3Optional)).toBe(true);
        }
      });
      for (const f of m.field ?? []) if (f.proto3Optional) optional.push(`${m.name}.${f.name}`);
    }
    expect(optional.sort()).toEqual([...OPTIONAL_FIELDS].sort());
    const part = compactd.messageType!.find((m) => m.name === 'Part')!;
    expect(part.oneofDecl).toEqual([{ name: 'kind' }]);
    const hollow = compactd.messageType!.find((m) => m.name === 'HollowPart')!;
    expect(hollow.field!.find((f) => f.name === 'diffs_sum')).toMatchObject({ jsonName: 'diffsSum', proto3Optional: true, oneofIndex: 0 });
  });

  it('describes the health map field with its nested entry message', () => {
    const health = files.get('grpc/health/v1/health.proto')!;
    const list = health.messageType!.find((m) => m.name === 'HealthListResponse')!;
    expect(list.field![0]).toMatchObject({ name: 'statuses', typeName: '.grpc.health.v1.HealthListResponse.StatusesEntry' });
    expect(list.nestedType!.map((n) => n.name)).toEqual(['StatusesEntry']);
  });

  it('answers calls built only from the reflected descriptors', async () => {
    const set = descriptor.FileDescriptorSet.encode(descriptor.FileDescriptorSet.fromObject({ file: [...files.values()] })).finish();
    const def = loadFileDescriptorSetFromBuffer(Buffer.from(set), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
    type Unary = (req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Record<string, unknown>) => void) => void;
    const ctor = (name: string) => grpc.makeGenericClientConstructor(def[name] as grpc.ServiceDefinition, name);
    const call = (client: grpc.Client, method: string, req: object) =>
      new Promise<Record<string, unknown>>((resolve, reject) =>
        (client as unknown as Record<string, Unary>)[method].call(client, req, { deadline: Date.now() + 5000 }, (err, res) =>
          err ? reject(err) : resolve(res!),
        ),
      );
    const Health = ctor('grpc.health.v1.Health');
    const Compactor = ctor('compactd.v1.Compactor');
    const health = new Health(t.server.address, grpc.credentials.createInsecure());
    const compactor = new Compactor(t.server.address, grpc.credentials.createInsecure());
    try {
      expect(await call(health, 'Check', { service: '' })).toEqual({ status: 'SERVING' });
      expect(await call(health, 'Check', { service: 'compactd.v1.Compactor' })).toEqual({ status: 'SERVING' });
      const key = 'c00000000-0000-4000-8000-000000000000/p00000000-0000-4000-8000-000000000000';
      expect(await call(compactor, 'DeleteParts', { shard_id: 's', keys: [key] })).toEqual({ deleted: 0, missing: 1 });
    } finally {
      health.close();
      compactor.close();
    }
  });
});
