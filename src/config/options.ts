/**
 * Options of `compactd serve`: raw flags and `COMPACTD_*` environment variables become one frozen,
 * validated `ServeOptions` object, once, at start-up. Flags win over the environment, the
 * environment wins over the defaults. Every bad value fails with one line naming where it came
 * from: `--queue-size: expected a whole number >= 1, got "x"`.
 *
 * The runtime-changeable subset (`RuntimeConfig`, the ServiceConfig of the Admin API) is
 * validated by the same rules when it is updated, so a value the command line refuses is refused
 * by UpdateConfig too.
 */
import { availableParallelism } from 'node:os';
import { CompactdError } from '../model/errors.js';
import {
  DEFAULT_MAX_ANTICHAIN_ELEMENTS,
  DEFAULT_MAX_DIMS,
  DEFAULT_MAX_INPUTS,
  DEFAULT_MAX_KEY_CHARS,
  DEFAULT_MAX_PARTS,
  DEFAULT_MEMORY_BOUND_BYTES,
  DEFAULT_TARGET_PART_BYTES,
} from '../model/defaults.js';
import { MAX_PART_KEY_CHARS } from '../model/keys.js';
import { DEFAULT_MAX_MESSAGE_BYTES, GiB, KiB, MiB } from '../model/util/sizes.js';
import { BOOLEAN_SYNTAX, parseBoolean, parseByteSize, readFlag, SIZE_SYNTAX, splitFlags, wantsHelp, type GivenFlag } from './argv.js';
import { envName, type EnvSnapshot } from './env.js';
import { parseFaultSpec } from './faults.js';
import type { ServiceConfig } from '../model/service-config.js';
import { PART_COMPRESSIONS, type PartCompression } from '../model/compression.js';


/** The conventional gRPC port; docs/contract.md, "Command line". */
export const DEFAULT_PORT = 50051;
/** Loopback only: exposing the service to a network must be a deliberate choice. */
export const DEFAULT_HOST = '127.0.0.1';
/** The port Prometheus exporters of OpenTelemetry use, so scrape configs find it. */
export const DEFAULT_METRICS_PORT = 9464;
/** A directory next to where the service starts: works without any set-up (`npm start`). */
export const DEFAULT_BLOB = 'file://./data';
/** A fresh service does work; disabling is an operator's emergency brake. */
export const DEFAULT_ENABLED = true;
/** Materialize persist's compaction_queue_size: enough to absorb a burst, small enough to shed load early. */
export const DEFAULT_QUEUE_SIZE = 20;
/** Materialize's compaction_heuristic_min_inputs: fewer batches are cheap to read as they are. */
export const DEFAULT_HEURISTIC_MIN_INPUTS = 8;
/** Materialize's compaction_heuristic_min_parts: fewer parts are cheap to read as they are. */
export const DEFAULT_HEURISTIC_MIN_PARTS = 8;
/** Materialize's compaction_heuristic_min_updates: below this the rewrite costs more than it saves. */
export const DEFAULT_HEURISTIC_MIN_UPDATES = 1024;
/** Materialize's compaction_minimum_timeout: long enough for a cold S3 read of a large batch. */
export const DEFAULT_MINIMUM_TIMEOUT_SECONDS = 90;
/** pino's default: start, skip, finish and failure lines without per-part detail. */
export const DEFAULT_LOG_LEVEL = 'info';
/** Kubernetes' default termination grace: in-flight work gets the time the orchestrator allows. */
export const DEFAULT_GRACE_SECONDS = 30;
export { DEFAULT_MAX_MESSAGE_BYTES };
// Defaults the engine and the request validation apply too live in model/defaults.ts.
export {
  DEFAULT_MAX_ANTICHAIN_ELEMENTS,
  DEFAULT_MAX_DIMS,
  DEFAULT_MAX_INPUTS,
  DEFAULT_MAX_KEY_CHARS,
  DEFAULT_MAX_PARTS,
  DEFAULT_MEMORY_BOUND_BYTES,
  DEFAULT_TARGET_PART_BYTES,
};
/** Uncompressed parts are readable by every Arrow reader without registering codecs. */
export const DEFAULT_COMPRESSION = 'none';
/** The blob layer's own default budget: an outage longer than this is reported as UNAVAILABLE. */
export const DEFAULT_BLOB_RETRY_SECONDS = 30;
/** On: a store the service cannot write should stop the start-up, not fail every compaction later. */
export const DEFAULT_STORE_CHECK = true;
/** Where the start-up store check writes: no shard id can start with `_`, so no part key lands here. */
export const STORE_PROBE_PREFIX = '_compactd/probe/';
/** Off by default: one replica gains nothing from reconnects; scaled-out deployments set it (deploy/k8s). */
export const DEFAULT_MAX_CONNECTION_AGE_SECONDS = 0;
/** A lease renewed with every checkpoint: a replica that died is replaced within half a minute. */
export const DEFAULT_LEASE_SECONDS = 30;
/** Ten minutes: far longer than a caller takes to re-send after its stream broke just before `done`. */
export const DEFAULT_CHECKPOINT_RETENTION_SECONDS = 600;
/** Five minutes without reading or writing a part: far beyond a slow part transfer, within any useful deadline. */
export const DEFAULT_STALL_TIMEOUT_SECONDS = 300;
/** Once a second: a live progress bar without flooding the stream. */
export const DEFAULT_PROGRESS_INTERVAL_SECONDS = 1;

/** One compaction per core keeps every core busy without time-slicing between compactions. */
export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** `auto`: human lines when stdout is a terminal (a person watching), JSON lines otherwise (a collector). */
export const LOG_FORMAT_CHOICES = ['auto', 'json', 'pretty'] as const;
export type LogFormatChoice = (typeof LOG_FORMAT_CHOICES)[number];
/** A person starting the service in a terminal reads it; a container's output goes to a collector. */
export const DEFAULT_LOG_FORMAT: LogFormatChoice = 'auto';
export const COMPRESSIONS = PART_COMPRESSIONS;
export type Compression = PartCompression;

/** The settings the Admin API reads and changes while the service runs. */
export type RuntimeConfig = ServiceConfig;

/** Everything `compactd serve` runs with; frozen. */
export interface ServeOptions extends RuntimeConfig {
  readonly port: number;
  readonly host: string;
  readonly metricsPort: number;
  readonly blob: string;
  readonly workers: number;
  readonly logLevel: LogLevel;
  /** How log records are written; `auto` is decided by whether stdout is a terminal. */
  readonly logFormat: LogFormatChoice;
  readonly graceSeconds: number;
  readonly maxMessageBytes: number;
  readonly maxInputs: number;
  readonly maxParts: number;
  readonly maxDims: number;
  readonly compression: Compression;
  /** How long a failing blob request is retried before the compaction fails with UNAVAILABLE. */
  readonly blobRetrySeconds: number;
  /** Probe the store at start-up (write, read back, delete one object) and refuse to start if that fails. */
  readonly storeCheck: boolean;
  /** Longest part key accepted in a request (at most the contract's 512). */
  readonly maxKeyChars: number;
  /** Most elements of one antichain in a request. */
  readonly maxAntichainElements: number;
  /** Seconds after which a client connection is asked to reconnect (0: never). */
  readonly maxConnectionAgeSeconds: number;
  /** PEM files of the gRPC port's TLS certificate chain and key; '' for plain text. */
  readonly tlsCert: string;
  readonly tlsKey: string;
  /** PEM file of the CAs client certificates must chain to (mutual TLS); '' for none. */
  readonly tlsClientCa: string;
  /** File holding the bearer token Compactor calls must present; '' for no authentication. */
  readonly authTokenFile: string;
  /** File holding the bearer token Admin calls must present; '' to guard Admin like Compactor. */
  readonly adminTokenFile: string;
  /** Testing only: a fault-injection spec for the blob store (faults.ts); '' for none. */
  readonly blobFaults: string;
  /** Lease of a compaction job's checkpoint (docs/jobs.md). */
  readonly leaseSeconds: number;
  /** How long a finished job's checkpoint answers a re-sent request. */
  readonly checkpointRetentionSeconds: number;
  /** A compaction that reads and writes no part for this long is stopped (0: never). */
  /** Streamed progress events come at least this often. */
  readonly progressIntervalSeconds: number;
}

type Value = number | string | boolean;

/** How one option is spelled, parsed, checked and documented. */
export interface OptionSpec {
  /** Kebab-case flag name without dashes: `queue-size`. */
  readonly flag: string;
  readonly key: keyof ServeOptions;
  readonly type: 'integer' | 'size' | 'seconds' | 'boolean' | 'choice' | 'text' | 'url' | 'file' | 'faults';
  /** Smallest accepted value (numbers). */
  readonly min?: number;
  /** Largest accepted value (numbers). */
  readonly max?: number;
  /** For seconds: whether `min` itself is allowed. */
  readonly exclusiveMin?: boolean;
  readonly choices?: readonly string[];
  /** The default, or a description of how it is computed (for help and docs). */
  readonly defaultValue: Value | (() => Value);
  readonly defaultText?: string;
  /** Placeholder of the value in --help (`PORT`); by default one follows from the type. */
  readonly valueName?: string;
  /** Changeable at runtime through Admin.UpdateConfig. */
  readonly runtime: boolean;
  /**
   * False for options that only a command-line flag may set, never the environment: a variable
   * left in a deployment's environment must not silently switch them on.
   */
  readonly fromEnv?: boolean;
  readonly help: string;
}


/** Every option of `compactd serve`, in the order `--help` and the docs list them. */
export const OPTIONS: readonly OptionSpec[] = Object.freeze([
  { flag: 'port', key: 'port', type: 'integer', valueName: 'PORT', min: 0, max: 65535, defaultValue: DEFAULT_PORT, runtime: false, help: 'gRPC port; 0 picks a free port (logged)' },
  { flag: 'host', key: 'host', type: 'text', valueName: 'HOST', defaultValue: DEFAULT_HOST, runtime: false, help: 'address the gRPC and metrics servers bind' },
  { flag: 'metrics-port', key: 'metricsPort', type: 'integer', valueName: 'PORT', min: 0, max: 65535, defaultValue: DEFAULT_METRICS_PORT, runtime: false, help: 'HTTP port of /metrics and /healthz; 0 picks a free port (logged)' },
  { flag: 'blob', key: 'blob', type: 'url', defaultValue: DEFAULT_BLOB, runtime: false, help: 'blob store URL: file:///abs/dir, file://./rel, s3://bucket/prefix?endpoint=...' },
  { flag: 'enabled', key: 'enabled', type: 'boolean', defaultValue: DEFAULT_ENABLED, runtime: true, help: 'process compactions (false: answer UNAVAILABLE "compaction disabled")' },
  { flag: 'queue-size', key: 'queueSize', type: 'integer', min: 1, defaultValue: DEFAULT_QUEUE_SIZE, runtime: true, help: 'requests that may wait for a slot; beyond it RESOURCE_EXHAUSTED at once' },
  { flag: 'concurrency-limit', key: 'concurrencyLimit', type: 'integer', min: 1, defaultValue: () => defaultWorkers(), defaultText: 'the number of workers', runtime: true, help: 'compactions running at once' },
  { flag: 'heuristic-min-inputs', key: 'heuristicMinInputs', type: 'integer', min: 0, defaultValue: DEFAULT_HEURISTIC_MIN_INPUTS, runtime: true, help: 'compact when the request has at least this many input batches' },
  { flag: 'heuristic-min-parts', key: 'heuristicMinParts', type: 'integer', min: 0, defaultValue: DEFAULT_HEURISTIC_MIN_PARTS, runtime: true, help: 'compact when the inputs have at least this many parts' },
  { flag: 'heuristic-min-updates', key: 'heuristicMinUpdates', type: 'integer', min: 0, defaultValue: DEFAULT_HEURISTIC_MIN_UPDATES, runtime: true, help: 'compact when the inputs sum to at least this many updates' },
  { flag: 'minimum-timeout-seconds', key: 'minimumTimeoutSeconds', type: 'seconds', min: 0, exclusiveMin: true, defaultValue: DEFAULT_MINIMUM_TIMEOUT_SECONDS, runtime: true, help: 'timeout of a compaction is max(this, 1 s per MiB of input)' },
  { flag: 'memory-bound-bytes', key: 'memoryBoundBytes', type: 'size', min: 1, defaultValue: DEFAULT_MEMORY_BOUND_BYTES, defaultText: '1GiB', runtime: true, help: 'decoded bytes one compaction may hold; larger inputs are split into chunks' },
  { flag: 'target-part-bytes', key: 'targetPartBytes', type: 'size', min: 1, defaultValue: DEFAULT_TARGET_PART_BYTES, defaultText: '128MiB', runtime: true, help: 'approximate size of each output part' },
  { flag: 'workers', key: 'workers', type: 'integer', min: 1, max: 1024, defaultValue: () => defaultWorkers(), defaultText: 'available CPU cores', runtime: false, help: 'worker threads that run compactions' },
  { flag: 'log-level', key: 'logLevel', type: 'choice', valueName: 'LEVEL', choices: LOG_LEVELS, defaultValue: DEFAULT_LOG_LEVEL, runtime: false, help: 'least severe level logged (on stdout)' },
  { flag: 'log-format', key: 'logFormat', type: 'choice', choices: LOG_FORMAT_CHOICES, defaultValue: DEFAULT_LOG_FORMAT, defaultText: 'auto: pretty when stdout is a terminal, else json', runtime: false, help: 'json: one JSON record per line; pretty: short human lines' },
  { flag: 'grace-seconds', key: 'graceSeconds', type: 'seconds', min: 0, defaultValue: DEFAULT_GRACE_SECONDS, runtime: false, help: 'on SIGTERM/SIGINT, time in-flight work gets before it is aborted' },
  { flag: 'max-message-bytes', key: 'maxMessageBytes', type: 'size', min: 1 * KiB, max: 2 * GiB - 1, defaultValue: DEFAULT_MAX_MESSAGE_BYTES, defaultText: '64MiB', runtime: false, help: 'largest gRPC message received or sent' },
  { flag: 'max-inputs', key: 'maxInputs', type: 'integer', min: 1, defaultValue: DEFAULT_MAX_INPUTS, runtime: false, help: 'most input batches one request may name (else RESOURCE_EXHAUSTED)' },
  { flag: 'max-parts', key: 'maxParts', type: 'integer', min: 1, defaultValue: DEFAULT_MAX_PARTS, runtime: false, help: 'most parts across the inputs of one request (else RESOURCE_EXHAUSTED)' },
  { flag: 'max-dims', key: 'maxDims', type: 'integer', min: 1, max: 1024, defaultValue: DEFAULT_MAX_DIMS, runtime: false, help: 'most timestamp coordinates (else RESOURCE_EXHAUSTED)' },
  { flag: 'compression', key: 'compression', type: 'choice', choices: COMPRESSIONS, defaultValue: DEFAULT_COMPRESSION, runtime: false, help: 'body compression of output parts: none, zstd or lz4 (Arrow LZ4_FRAME)' },
  { flag: 'blob-retry-seconds', key: 'blobRetrySeconds', type: 'seconds', min: 0, defaultValue: DEFAULT_BLOB_RETRY_SECONDS, runtime: false, help: 'how long a failing blob store request is retried before the compaction fails with UNAVAILABLE' },
  { flag: 'store-check', key: 'storeCheck', type: 'boolean', defaultValue: DEFAULT_STORE_CHECK, runtime: false, help: `at start-up write, read back and delete one object under ${STORE_PROBE_PREFIX} and exit if that fails; --no-store-check starts without it` },
  { flag: 'max-key-chars', key: 'maxKeyChars', type: 'integer', min: 1, max: MAX_PART_KEY_CHARS, defaultValue: DEFAULT_MAX_KEY_CHARS, runtime: false, help: 'longest part key a request may name (else INVALID_ARGUMENT)' },
  { flag: 'max-antichain-elements', key: 'maxAntichainElements', type: 'integer', min: 1, defaultValue: DEFAULT_MAX_ANTICHAIN_ELEMENTS, runtime: false, help: 'most elements of one frontier in a request (else RESOURCE_EXHAUSTED); checking one costs their square' },
  { flag: 'max-connection-age-seconds', key: 'maxConnectionAgeSeconds', type: 'seconds', min: 0, defaultValue: DEFAULT_MAX_CONNECTION_AGE_SECONDS, defaultText: '0: never', runtime: false, help: 'ask clients to reconnect after this long (calls in flight finish first), so round-robin clients find new replicas' },
  { flag: 'lease-seconds', key: 'leaseSeconds', type: 'seconds', min: 0, exclusiveMin: true, defaultValue: DEFAULT_LEASE_SECONDS, runtime: false, help: 'lease of a compaction job with a compaction_id, renewed with its progress; after it expires another replica may take the job over' },
  { flag: 'checkpoint-retention-seconds', key: 'checkpointRetentionSeconds', type: 'seconds', min: 0, defaultValue: DEFAULT_CHECKPOINT_RETENTION_SECONDS, runtime: false, help: 'how long a finished job answers the same request again (with copies of its output)' },
  { flag: 'stall-timeout-seconds', key: 'stallTimeoutSeconds', type: 'seconds', min: 0, defaultValue: DEFAULT_STALL_TIMEOUT_SECONDS, defaultText: '300; 0: never', runtime: true, help: 'stop a compaction that reads and writes no part for this long (DEADLINE_EXCEEDED naming its phase)' },
  { flag: 'progress-interval-seconds', key: 'progressIntervalSeconds', type: 'seconds', min: 0, exclusiveMin: true, defaultValue: DEFAULT_PROGRESS_INTERVAL_SECONDS, runtime: false, help: 'CompactStream sends a progress event at least this often' },
  { flag: 'tls-cert', key: 'tlsCert', type: 'file', defaultValue: '', defaultText: 'none: plain text', runtime: false, help: 'PEM certificate chain of the gRPC port; with --tls-key turns TLS on' },
  { flag: 'tls-key', key: 'tlsKey', type: 'file', defaultValue: '', defaultText: 'none', runtime: false, help: 'PEM private key of --tls-cert' },
  { flag: 'tls-client-ca', key: 'tlsClientCa', type: 'file', defaultValue: '', defaultText: 'none', runtime: false, help: 'PEM CA bundle; when set, clients must present a certificate it signed (mutual TLS)' },
  { flag: 'auth-token-file', key: 'authTokenFile', type: 'file', defaultValue: '', defaultText: 'none: no authentication', runtime: false, help: 'file holding the token Compactor calls must send as "authorization: Bearer <token>" (else UNAUTHENTICATED)' },
  { flag: 'admin-token-file', key: 'adminTokenFile', type: 'file', defaultValue: '', defaultText: 'none: Admin guarded like Compactor', runtime: false, help: 'file holding the token Admin calls must send; the ordinary token gets PERMISSION_DENIED there' },
  { flag: 'blob-faults', key: 'blobFaults', type: 'faults', defaultValue: '', defaultText: 'none', runtime: false, fromEnv: false, help: 'TESTING ONLY: inject blob store failures and latency (README, "Fault injection"); flag only, never read from the environment' },
] satisfies OptionSpec[]);

const BY_FLAG = new Map(OPTIONS.map((o) => [o.flag, o]));

/** The names of the RuntimeConfig fields, in proto order. */
export const RUNTIME_KEYS = OPTIONS.filter((o) => o.runtime).map((o) => o.key as keyof RuntimeConfig);

function expectation(spec: OptionSpec): string {
  const range = (lo: string) =>
    spec.max === undefined ? lo : `${lo.replace(/>= /, 'from ')} to ${spec.max}`;
  switch (spec.type) {
    case 'integer':
      return `expected a whole number ${range(`>= ${spec.min ?? 0}`)}`;
    case 'size':
      return `expected a size in bytes ${range(`>= ${spec.min ?? 0}`)} (${SIZE_SYNTAX})`;
    case 'seconds':
      return `expected a number of seconds ${spec.exclusiveMin ? '>' : '>='} ${spec.min ?? 0}`;
    case 'boolean':
      return `expected ${BOOLEAN_SYNTAX}`;
    case 'choice':
      return `expected one of ${spec.choices!.join(', ')}`;
    case 'text':
      return 'expected a non-empty value';
    case 'url':
      return 'expected a URL such as file:///abs/dir or s3://bucket/prefix';
    case 'file':
      return 'expected a file path';
    case 'faults':
      return 'expected a fault spec such as errorRate=0.1&latencyMs=5&ops=get,set';
  }
}

function bad(source: string, spec: OptionSpec, raw: unknown): CompactdError {
  return new CompactdError('invalid', `${source}: ${expectation(spec)}, got ${JSON.stringify(raw)}`);
}

function inRange(spec: OptionSpec, n: number): boolean {
  if (!Number.isFinite(n)) return false;
  if (spec.min !== undefined && (spec.exclusiveMin ? n <= spec.min : n < spec.min)) return false;
  if (spec.max !== undefined && n > spec.max) return false;
  return true;
}

/** Parses one option from its text form (flag or environment). */
function parseText(source: string, spec: OptionSpec, raw: string): Value {
  const text = raw.trim();
  switch (spec.type) {
    case 'integer': {
      if (!/^\d+$/.test(text)) throw bad(source, spec, raw);
      const n = Number(text);
      if (!Number.isSafeInteger(n) || !inRange(spec, n)) throw bad(source, spec, raw);
      return n;
    }
    case 'size': {
      const n = parseByteSize(text);
      if (n === undefined || !inRange(spec, n)) throw bad(source, spec, raw);
      return n;
    }
    case 'seconds': {
      if (!/^\d+(\.\d+)?$/.test(text)) throw bad(source, spec, raw);
      const n = Number(text);
      if (!inRange(spec, n)) throw bad(source, spec, raw);
      return n;
    }
    case 'boolean': {
      const b = parseBoolean(text);
      if (b === undefined) throw bad(source, spec, raw);
      return b;
    }
    case 'choice':
      if (!spec.choices!.includes(text)) throw bad(source, spec, raw);
      return text;
    case 'text':
      if (text === '') throw bad(source, spec, raw);
      return text;
    case 'url':
      if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\/./.test(text)) throw bad(source, spec, raw);
      return text;
    case 'file':
      if (text === '' || /[\0\r\n]/.test(text)) throw bad(source, spec, raw);
      return text;
    case 'faults':
      try {
        parseFaultSpec(text);
      } catch (err) {
        throw new CompactdError('invalid', `${source}: ${(err as Error).message}`);
      }
      return text;
  }
}

/** Checks one option given as a value (Admin.UpdateConfig). */
function checkValue(source: string, spec: OptionSpec, value: unknown): Value {
  switch (spec.type) {
    case 'integer':
    case 'size':
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || !inRange(spec, value)) throw bad(source, spec, value);
      return value;
    case 'seconds':
      if (typeof value !== 'number' || !inRange(spec, value)) throw bad(source, spec, value);
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw bad(source, spec, value);
      return value;
    default:
      if (typeof value !== 'string') throw bad(source, spec, value);
      return parseText(source, spec, value);
  }
}

export { wantsHelp };

/** Splits `argv` into flag name and raw value by the one flag grammar (argv.ts). */
function parseArgv(argv: readonly string[]): Map<string, GivenFlag> {
  return splitFlags(argv, {
    find: (name) => {
      const spec = BY_FLAG.get(name);
      return spec && { name: spec.flag, boolean: spec.type === 'boolean' };
    },
    names: [...BY_FLAG.keys(), 'help', 'version'],
    hint: ' (see compactd serve --help)',
    missingValue: (name) => `--${name}: missing value (${expectation(BY_FLAG.get(name)!)})`,
  });
}

/**
 * Builds the options of `compactd serve` from command-line flags (after the command name) and an
 * environment snapshot (`readEnv()`). Throws CompactdError `invalid` with a one-line message for
 * the first bad or unknown value. The result is frozen.
 */
export function parseServeOptions(argv: readonly string[], env: EnvSnapshot = {}): ServeOptions {
  // Every refusal here is about what the operator wrote (a flag or a variable), not a request.
  return readFlag(() => compileServeOptions(argv, env));
}

function compileServeOptions(argv: readonly string[], env: EnvSnapshot): ServeOptions {
  const flags = parseArgv(argv);
  const out: Partial<Record<keyof ServeOptions, Value>> = {};
  for (const spec of OPTIONS) {
    const given = flags.get(spec.flag);
    const envVar = envName(spec.flag);
    const envRaw = spec.fromEnv === false ? undefined : env[envVar];
    if (given) out[spec.key] = parseText(given.source, spec, given.raw);
    else if (envRaw !== undefined && envRaw !== '') out[spec.key] = parseText(envVar, spec, envRaw);
    else out[spec.key] = typeof spec.defaultValue === 'function' ? spec.defaultValue() : spec.defaultValue;
  }
  // The default concurrency follows the worker count actually configured, not the core count.
  if (!flags.has('concurrency-limit') && !env[envName('concurrency-limit')]) out.concurrencyLimit = out.workers;
  // Every option of OPTIONS was set above, each checked against its spec's type.
  const options = out as ServeOptions;
  checkCombinations(options);
  return Object.freeze(options);
}

/**
 * The port `serve` would take from the environment (COMPACTD_PORT), read by the same rule, or
 * undefined when the variable is unset or empty. Throws a UsageError for a bad value, so a client
 * command never falls back to the default port behind a typo.
 */
export function portFromEnv(env: EnvSnapshot): number | undefined {
  const spec = BY_FLAG.get('port')!;
  const raw = env[envName(spec.flag)];
  if (raw === undefined || raw.trim() === '') return undefined;
  return readFlag(() => parseText(envName(spec.flag), spec, raw) as number);
}

/** The options Admin.UpdateConfig changes (`compactd config set` takes them as flags). */
export const RUNTIME_OPTIONS: readonly OptionSpec[] = OPTIONS.filter((o) => o.runtime);

/**
 * Reads the value of a runtime option given as a flag (`compactd config set --queue-size 5`) by
 * the same rule as `serve`; throws a UsageError naming the flag.
 */
export function runtimeValueFromText(spec: OptionSpec, raw: string): number | boolean {
  return readFlag(() => parseText(`--${spec.flag}`, spec, raw) as number | boolean);
}

/** The --help placeholder and text of an option, as `serve --help` shows them. */
export function optionHelp(spec: OptionSpec): { valueName: string; help: string } {
  return { valueName: valueName(spec), help: spec.help };
}

/** Options that only make sense together. */
function checkCombinations(o: ServeOptions): void {
  if ((o.tlsCert === '') !== (o.tlsKey === '')) {
    throw new CompactdError('invalid', '--tls-cert and --tls-key: give both (TLS) or neither (plain text)');
  }
  if (o.tlsClientCa !== '' && o.tlsCert === '') {
    throw new CompactdError('invalid', '--tls-client-ca: mutual TLS needs --tls-cert and --tls-key too');
  }
}

/** The RuntimeConfig subset of serve options. */
export function runtimeConfigOf(opts: RuntimeConfig): RuntimeConfig {
  const out: Partial<Record<keyof RuntimeConfig, Value>> = {};
  for (const key of RUNTIME_KEYS) out[key] = opts[key];
  return Object.freeze(out as RuntimeConfig);
}

/** The snake_case name of a runtime field as it appears in the Admin API: `queueSize` -> `queue_size`. */
export function protoFieldName(key: keyof RuntimeConfig): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * Applies a partial update to a runtime configuration, checking every given field by the same
 * rules as the command line. Undefined fields stay as they are. Throws CompactdError `invalid`
 * naming the field (`queue_size: expected a whole number from 1 to 4294967295, got 0`);
 * on error nothing is applied. Returns a new frozen object.
 */
export function applyConfigUpdate(current: RuntimeConfig, patch: Partial<Record<keyof RuntimeConfig, unknown>>): RuntimeConfig {
  const out: Partial<Record<keyof RuntimeConfig, Value>> = { ...current };
  for (const key of RUNTIME_KEYS) {
    const value = patch[key];
    if (value === undefined) continue;
    const spec = OPTIONS.find((o) => o.key === key)!;
    out[key] = checkValue(protoFieldName(key), spec, value);
  }
  return Object.freeze(out as RuntimeConfig);
}

function defaultText(spec: OptionSpec): string {
  if (spec.defaultText) return spec.defaultText;
  return String(typeof spec.defaultValue === 'function' ? spec.defaultValue() : spec.defaultValue);
}

/** The placeholder of an option's value in --help: `--port PORT`, `--log-level fatal|...|silent`. */
function valueName(o: OptionSpec): string {
  if (o.valueName) return o.valueName;
  switch (o.type) {
    case 'integer':
      return 'N';
    case 'size':
      return 'BYTES';
    case 'seconds':
      return 'SECONDS';
    case 'boolean':
      return '';
    case 'choice':
      return o.choices!.join('|');
    case 'text':
      return 'TEXT';
    case 'url':
      return 'URL';
    case 'file':
      return 'FILE';
    case 'faults':
      return 'SPEC';
  }
}

/** The `--help` text of `compactd serve`, in the layout of every other command's help. */
export function serveHelp(): string {
  const lines = [
    'Usage: compactd serve [flags]',
    '',
    'Runs the compaction service. Every flag can also be set as an environment variable',
    'COMPACTD_<NAME> (--queue-size is COMPACTD_QUEUE_SIZE); flags win.',
    '',
    'Flags:',
  ];
  const rows = OPTIONS.map((o) => {
    const left = `--${o.flag}${o.type === 'boolean' ? '' : ` ${valueName(o)}`}`;
    // A long list of choices is spelled out in the text instead of the placeholder.
    const choices = o.type === 'choice' && o.valueName ? `; one of ${o.choices!.join(', ')}` : '';
    return [left, `${o.help}${choices} (default ${defaultText(o)})${o.runtime ? ' [runtime]' : ''}`];
  });
  rows.push(['--help', 'show this help'], ['--version', 'print the version (compactd --version)']);
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  for (const [l, r] of rows) lines.push(`  ${l.padEnd(width)}${r}`);
  lines.push('', '[runtime]: also changeable while serving through Admin.UpdateConfig (compactd config set).', `Sizes: ${SIZE_SYNTAX}.`);
  return lines.join('\n');
}

/** The configuration reference as a Markdown table (the README's Configuration section is this table). */
export function configurationMarkdown(): string {
  const rows = OPTIONS.map(
    (o) =>
      `| \`--${o.flag}\` | ${o.fromEnv === false ? '(flag only)' : `\`${envName(o.flag)}\``} | ${defaultText(o).replace(/^(.*)$/, o.defaultText ? '$1' : '`$1`')} | ${o.runtime ? 'yes' : 'no'} | ${o.help} |`,
  );
  return [
    '| flag | environment | default | runtime | meaning |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

/** A byte count in the units the size options accept: `128MiB`, `10TiB`, `1000`. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [['TiB', 1024 * GiB], ['GiB', GiB], ['MiB', MiB], ['KiB', KiB]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

/** The log message of memoryBoundWarning's warning (its text goes in the `warning` field). */
export const MEMORY_BOUND_WARNING = 'memory bound too small for the target part size';

/** Logs MEMORY_BOUND_WARNING at warn level when `memoryBoundWarning(c)` has something to say. */
export function warnAboutMemoryBound(log: { warn(obj: object, msg: string): void }, c: Pick<RuntimeConfig, 'memoryBoundBytes' | 'targetPartBytes'>): void {
  const warning = memoryBoundWarning(c);
  if (warning) log.warn({ memoryBoundBytes: c.memoryBoundBytes, targetPartBytes: c.targetPartBytes, warning }, MEMORY_BOUND_WARNING);
}

/**
 * The warning for a memory bound that cannot hold two output parts plus two input parts of the
 * target size (the engine reserves two output parts and needs two runs to merge anything), or
 * undefined when the pair fits. Below that every request is split into chunks of two runs each
 * (one output run per chunk, each counted as a memory violation): almost always a mistake in one
 * of the two options.
 */
export function memoryBoundWarning(c: Pick<RuntimeConfig, 'memoryBoundBytes' | 'targetPartBytes'>): string | undefined {
  const needed = 4 * c.targetPartBytes;
  if (c.memoryBoundBytes >= needed) return undefined;
  return (
    `--memory-bound-bytes ${formatSize(c.memoryBoundBytes)} cannot hold two output parts plus two input parts of ` +
    `--target-part-bytes ${formatSize(c.targetPartBytes)} (${formatSize(needed)} needed): every compaction will be split ` +
    'into chunks of two runs each, one output run per chunk, each counted as a memory violation; ' +
    'raise --memory-bound-bytes or lower --target-part-bytes'
  );
}
