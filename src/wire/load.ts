/**
 * Loads the compactd .proto at run time for @grpc/grpc-js. The options must stay in step with
 * scripts/gen-proto.mjs: the generated types in src/gen describe exactly the objects this loader
 * produces.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSync, type Options, type PackageDefinition } from '@grpc/proto-loader';
import { internal } from '../model/errors.js';

/** The loader options shared with the generator: change both together. */
export const LOADER_OPTIONS: Readonly<Options> = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

/** Path of the .proto relative to the proto root (the name reflection reports). */
export const PROTO_RELATIVE_PATH = 'compactd/v1/compactd.proto';

/**
 * The directory holding `compactd/v1/compactd.proto`. This module sits two levels below the
 * package root both as source (`src/wire/load.ts`) and compiled (`dist/wire/load.js`), so
 * `../../proto` works for tsx, vitest and the built package alike.
 */
export function protoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return join(here, '..', '..', 'proto');
}

export interface CompactdPackage {
  /** The package definition to pass to `grpc.loadPackageDefinition`. */
  readonly packageDefinition: PackageDefinition;
  /** Absolute path of the .proto file. */
  readonly protoPath: string;
  /** The include directory the file was loaded from. */
  readonly includeDir: string;
}

let cached: CompactdPackage | undefined;

/**
 * Loads (once per process) and returns the grpc package definition of `compactd.v1` along with
 * the absolute path of its .proto file. Throws when the file is not where the layout says.
 */
export function loadCompactdPackage(): CompactdPackage {
  if (cached) return cached;
  const includeDir = protoRoot();
  const protoPath = join(includeDir, PROTO_RELATIVE_PATH);
  if (!existsSync(protoPath)) throw internal(`compactd proto not found at ${protoPath}`);
  const packageDefinition = loadSync(PROTO_RELATIVE_PATH, { ...LOADER_OPTIONS, includeDirs: [includeDir] });
  cached = Object.freeze({ packageDefinition, protoPath, includeDir });
  return cached;
}
