/**
 * Where compactd's .proto file is. Apart from the gRPC loader (load.ts) so that the JSON codec,
 * which reads the same file with protobufjs, does not load @grpc/proto-loader.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Path of the .proto relative to the proto root (the name reflection reports). */
export const PROTO_RELATIVE_PATH = 'compactd/v1/compactd.proto';

/**
 * The directory holding `compactd/v1/compactd.proto`. This module sits two levels below the
 * package root both as source (`src/wire/proto-file.ts`) and compiled (`dist/wire/proto-file.js`),
 * so `../../proto` works for tsx, vitest and the built package alike.
 */
export function protoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return join(here, '..', '..', 'proto');
}
