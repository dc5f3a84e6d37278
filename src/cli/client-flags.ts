/**
 * Flags of the commands that call a running service (`compact --endpoint`, `demo`): TLS roots,
 * a client certificate for mutual TLS, and a bearer token file. Files are read when the command
 * runs; a token is never printed.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { CompactorClientOptions } from '../client/compactor-client.js';
import { parseEndpoint } from '../client/transport.js';
import { readFlag, usage } from '../config/argv.js';
import { envName, readEnv } from '../config/env.js';
import { DEFAULT_PORT, portFromEnv } from '../config/options.js';
import type { FlagSpec, FlagValue } from './args.js';

export const CLIENT_FLAGS: readonly FlagSpec[] = [
  { name: 'tls-ca', type: 'string', valueName: 'FILE', help: 'connect with TLS, trusting the CAs in this PEM file' },
  { name: 'tls-cert', type: 'string', valueName: 'FILE', help: 'client certificate (PEM) for mutual TLS; needs --tls-key' },
  { name: 'tls-key', type: 'string', valueName: 'FILE', help: 'private key (PEM) of --tls-cert' },
  { name: 'tls', type: 'boolean', help: 'connect with TLS trusting the system CAs (implied by --tls-ca)' },
  { name: 'token-file', type: 'string', valueName: 'FILE', help: 'send the token in this file as "authorization: Bearer <token>"' },
];

async function readFlagFile(flags: ReadonlyMap<string, FlagValue>, name: string, cwd: string): Promise<Buffer | undefined> {
  const file = flags.get(name);
  if (file === undefined) return undefined;
  try {
    return await readFile(path.resolve(cwd, String(file)));
  } catch (err) {
    throw usage(`--${name}: cannot read ${JSON.stringify(String(file))} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** The CompactorClient options the client flags ask for (files resolved against `cwd`). */
export async function clientOptionsFromFlags(
  flags: ReadonlyMap<string, FlagValue>,
  cwd: string,
): Promise<Pick<CompactorClientOptions, 'tls' | 'token'>> {
  const ca = await readFlagFile(flags, 'tls-ca', cwd);
  const cert = await readFlagFile(flags, 'tls-cert', cwd);
  const key = await readFlagFile(flags, 'tls-key', cwd);
  if ((cert === undefined) !== (key === undefined)) throw usage('--tls-cert and --tls-key go together');
  const useTls = flags.get('tls') === true || ca !== undefined || cert !== undefined;
  // A flag combination that cannot work is the command line's mistake (exit 2), caught here
  // before any client is made (the client library refuses it too, for its own callers).
  const endpoint = flags.get('endpoint');
  if (useTls && typeof endpoint === 'string' && /^http:\/\//i.test(endpoint.trim())) {
    const asking = flags.get('tls') === true ? '--tls' : ca !== undefined ? '--tls-ca' : '--tls-cert';
    throw usage(`--endpoint ${endpoint} says plain text (http://) but ${asking} asks for TLS; use https:// or HOST:PORT`);
  }
  const tokenBytes = await readFlagFile(flags, 'token-file', cwd);
  let token: string | undefined;
  if (tokenBytes !== undefined) {
    token = tokenBytes.toString('utf8').trim();
    if (!/^[\x21-\x7e]+$/.test(token)) throw usage('--token-file: the file must hold one token of printable ASCII');
  }
  return { ...(useTls ? { tls: { ca, cert, key } } : {}), ...(token !== undefined ? { token } : {}) };
}

/**
 * The --endpoint flag checked the way every client command reads it (parseEndpoint: HOST:PORT,
 * a gRPC target, http:// for plain text or https:// for TLS), or `fallback` when not given.
 */
export function endpointFromFlags(flags: ReadonlyMap<string, FlagValue>, fallback?: string): string | undefined {
  const raw = flags.get('endpoint');
  if (raw === undefined) return fallback;
  readFlag(() => parseEndpoint(String(raw), '--endpoint'));
  return String(raw);
}

/** A positive --deadline-seconds (0 would fail every call before it starts), or undefined. */
export function deadlineSecondsFromFlags(flags: ReadonlyMap<string, FlagValue>, name = 'deadline-seconds'): number | undefined {
  const v = flags.get(name);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !(v > 0)) throw usage(`--${name}: expected a number of seconds > 0, got ${JSON.stringify(String(v))}`);
  return v;
}

/**
 * Where a service started here listens when no --endpoint is given: loopback at the port `serve`
 * would take (COMPACTD_PORT, read by serve's rule, else the default), so a probe or the demo next
 * to a service whose port was changed by the environment still finds it.
 */
export function localEndpoint(): string {
  const port = portFromEnv(readEnv()) ?? DEFAULT_PORT;
  if (port === 0) throw usage(`${envName('port')} is 0 (serve picks a free port and logs it): give --endpoint HOST:PORT`);
  return `127.0.0.1:${port}`;
}
