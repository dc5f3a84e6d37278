/**
 * The only module that reads (or sets) `process.env`. Everything else receives options that were
 * read here once and validated by `options.ts`, so a setting can never change behind the
 * service's back.
 */

/** The prefix of every compactd environment variable: `--queue-size` is `COMPACTD_QUEUE_SIZE`. */
export const ENV_PREFIX = 'COMPACTD_';

/** A snapshot of the environment: variable name to value. */
export type EnvSnapshot = Readonly<Record<string, string | undefined>>;

/**
 * Returns a frozen copy of the `COMPACTD_*` variables of the process environment. Other variables
 * (AWS credentials, NODE_OPTIONS) are left to the libraries that own them.
 */
export function readEnv(): EnvSnapshot {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith(ENV_PREFIX) && value !== undefined) out[name] = value;
  }
  return Object.freeze(out);
}

/** The environment variable that carries a flag: `queue-size` becomes `COMPACTD_QUEUE_SIZE`. */
export function envName(flag: string): string {
  return ENV_PREFIX + flag.replace(/^--/, '').replace(/-/g, '_').toUpperCase();
}

/**
 * The AWS SDK's variable that silences its Node.js version notice (nine lines on stderr for every
 * command that touches s3:// on Node 20; README, "Blob stores and keys").
 */
export const AWS_NODE_VERSION_NOTICE_VARIABLE = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

/**
 * Silences the AWS SDK's Node.js version notice for this process and the worker threads it
 * starts, unless the variable is already set (`=false` brings the notice back). The SDK reads it
 * when it creates a client, so this runs before any command does.
 */
export function silenceAwsNodeVersionNotice(): void {
  if (process.env[AWS_NODE_VERSION_NOTICE_VARIABLE] === undefined) process.env[AWS_NODE_VERSION_NOTICE_VARIABLE] = 'true';
}

const GRPC_VERBOSITY_VARIABLE = 'GRPC_VERBOSITY';
let grpcQuietedHere = false;

/**
 * grpc-js prints its own diagnostics to stderr; the CLI says what a person needs in one line of
 * its own. grpc-js reads GRPC_VERBOSITY once, when it loads, so setting it here (before any command
 * loads gRPC, and only when unset: a person debugging sets it) costs nothing for commands that never
 * load gRPC. Returns whether this call set it.
 */
export function quietGrpcDiagnostics(): boolean {
  if (process.env[GRPC_VERBOSITY_VARIABLE] === undefined) {
    process.env[GRPC_VERBOSITY_VARIABLE] = 'NONE';
    grpcQuietedHere = true;
  }
  return grpcQuietedHere;
}

/** Whether GRPC_VERBOSITY was set by `quietGrpcDiagnostics` rather than by the person running compactd. */
export function grpcQuietedByCli(): boolean {
  return grpcQuietedHere;
}
