/**
 * Loads the compactd .proto at run time for @grpc/grpc-js. The options must stay in step with
 * scripts/gen-proto.mjs: the generated types in src/gen describe exactly the objects this loader
 * produces.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadSync, type Options, type PackageDefinition } from '@grpc/proto-loader';
import { internal } from '../model/errors.js';
import { PROTO_RELATIVE_PATH, protoRoot } from './proto-file.js';

export { PROTO_RELATIVE_PATH, protoRoot };

/** The loader options shared with the generator: change both together. */
export const LOADER_OPTIONS: Readonly<Options> = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

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
