/**
 * The one place where what gRPC's transport says becomes what a person acts on: an endpoint as
 * people type it (`http://host:port`, `https://host:port`) becomes a gRPC target, and a call
 * that failed before reaching the service (`No connection established. Last error: Error:
 * connect ECONNREFUSED ...`, `Name resolution failed for target dns:...`, `Protocol error`,
 * `Deadline exceeded after 0.018s,waiting for name resolution`, or Node's own socket, TLS and
 * HTTP/2 errors for the health client, which does not use grpc-js) becomes one line naming the
 * address and the cause. Errors the service itself sent pass through unchanged.
 */
import { connect } from 'node:net';
import { CompactdError, type CompactdErrorOptions } from '../model/errors.js';

/** A gRPC target and what its spelling says about TLS. */
export interface Endpoint {
  /** What grpc-js dials: `host:port` or a target with a gRPC scheme (`dns:///name:port`). */
  readonly target: string;
  /** true for `https://`, false for `http://`, undefined when the spelling says nothing. */
  readonly tls?: boolean;
}

/** Target schemes grpc-js resolves itself; such targets are passed through as they are. */
const GRPC_SCHEMES = /^(dns|ipv4|ipv6|unix|unix-abstract|vsock):/i;

/**
 * Reads an endpoint: `host:port`, `[v6]:port`, a gRPC target (`dns:///name:port`,
 * `unix:///path`), or a URL with `http://` (plain text) or `https://` (TLS) and no path. Throws
 * `invalid` naming `what` (the flag) for anything else, including a missing port.
 */
export function parseEndpoint(raw: string, what = 'endpoint'): Endpoint {
  const text = raw.trim();
  const bad = (why: string) => new CompactdError('invalid', `${what}: ${why}, got ${JSON.stringify(raw)}`);
  if (text === '') throw bad('expected HOST:PORT');
  if (GRPC_SCHEMES.test(text)) return { target: text };
  const url = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/.exec(text);
  let tls: boolean | undefined;
  let rest = text;
  if (url) {
    const scheme = url[1].toLowerCase();
    if (scheme !== 'http' && scheme !== 'https') throw bad(`expected HOST:PORT (or http://HOST:PORT, https://HOST:PORT for TLS), not a ${scheme}:// URL`);
    tls = scheme === 'https';
    rest = url[2].replace(/\/$/, '');
    if (/[/?#]/.test(rest)) throw bad('a gRPC endpoint has no path; expected HOST:PORT');
    // A URL's default port is what a person who typed https://host means.
    if (!/:\d+$/.test(rest) && !/^\[[^\]]*\]$/.test(rest) && rest !== '' && !rest.includes(':')) rest = `${rest}:${tls ? 443 : 80}`;
  }
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]]+):(\d{1,5})$/.exec(rest);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw bad('expected HOST:PORT with a port from 1 to 65535');
  return tls === undefined ? { target: rest } : { target: rest, tls };
}

/** Transport errno codes in words. */
const ERRNO_WORDS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'name lookup failed',
  EPIPE: 'connection closed',
};

/**
 * The header every answer of the service's metrics port carries: the gRPC port, so a client that
 * dialled the metrics port by mistake can say where gRPC is.
 */
export const GRPC_PORT_HEADER = 'compactd-grpc-port';
/** Long enough for a loopback or LAN answer; the probe only runs after a call already failed. */
const PROBE_MS = 1500;

export interface ExplainOptions {
  /** Whether the call used TLS (changes the hint for a peer that does not speak gRPC). */
  readonly tls?: boolean;
  /** The deadline the caller gave, in ms, for the message of a deadline that passed unanswered. */
  readonly deadlineMs?: number;
}

/**
 * The error a person should see for `err`, a failed call to `target`: transport failures
 * (unreachable, unknown host, not gRPC, no answer in time) become one line naming the address and
 * the cause, with the original kept as `cause`; anything else is returned as it is. Asks the
 * peer once over plain HTTP/1.1 when gRPC reports a protocol error, to tell the metrics port
 * from a TLS mismatch.
 */
export async function explainCallError(err: CompactdError, target: string, opts: ExplainOptions = {}): Promise<CompactdError> {
  const text = err.message;
  const keep = { cause: err.cause ?? err, determinate: err.determinate };
  if (err.kind === 'deadline') {
    const m = /^Deadline exceeded after ([\d.]+)s,?\s*(.*)$/.exec(text);
    if (!m) return err;
    const within = opts.deadlineMs !== undefined ? `${opts.deadlineMs / 1000} s` : `${m[1]} s`;
    const stage = /name resolution|connect|LB pick|subchannel/i.test(m[2]) ? ' (no connection was made)' : '';
    return new CompactdError('deadline', `no answer from ${target} within ${within}${stage}`, keep);
  }
  if (err.kind !== 'unavailable') return err;
  const resolution = /Name resolution failed for target (?:dns:)?\/*(.*)$/.exec(text);
  if (resolution || /Failed to parse DNS address/.test(text)) return unresolved(target, keep);
  const noConn = /No connection established\. Last error: (.*?)(?:\s*\(\d{4}-\d\d-\d\dT[^)]*\))?\.?\s*(?:Resolution note:.*)?$/s.exec(text);
  const lost = /^(Connection dropped|Connection closed|read ECONNRESET|Received RST_STREAM)/.test(text);
  if (!noConn && !lost) return err;
  return explainTransport(noConn ? noConn[1] : text, target, opts, keep);
}

/** Node errors of an HTTP/2 session that mean the peer does not speak HTTP/2 (as grpc-js says, "Protocol error"). */
const HTTP2_PROTOCOL_CODES = new Set(['ERR_HTTP2_ERROR', 'ERR_HTTP2_SESSION_ERROR', 'ERR_HTTP2_STREAM_ERROR', 'ERR_HTTP2_GOAWAY_SESSION', 'ERR_HTTP2_INVALID_SESSION']);

/**
 * The error a person should see when a call made over Node's own sockets (the health client,
 * which does not use grpc-js) failed before the service answered: `err` as node:net, node:tls
 * or node:http2 report it. Same words, same causes as explainCallError.
 */
export async function explainConnectionError(given: Error & { code?: string }, target: string, opts: ExplainOptions = {}): Promise<CompactdError> {
  const keep = { cause: given, determinate: false };
  // A stream cancelled because its session failed carries the session's error as its cause.
  const err = given.cause instanceof Error ? (given.cause as Error & { code?: string }) : given;
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return unresolved(target, keep);
  const text = HTTP2_PROTOCOL_CODES.has(err.code ?? '') && !/ECONN|EPIPE/.test(err.message) ? `Protocol error (${err.message})` : `${err.message}${err.code && !err.message.includes(err.code) ? ` (${err.code})` : ''}`;
  return explainTransport(text, target, opts, keep);
}

function unresolved(target: string, keep: CompactdErrorOptions): CompactdError {
  const host = target.replace(/^dns:\/*/, '').replace(/:\d+$/, '');
  return new CompactdError('unavailable', `${target} is unreachable (cannot resolve host ${JSON.stringify(host)}): check the name, or use an IP address`, keep);
}

/** A failed connection's last error (`last`) in words: refused, not gRPC (the metrics port?), TLS, or as it is. */
async function explainTransport(last: string, target: string, opts: ExplainOptions, keep: CompactdErrorOptions): Promise<CompactdError> {
  const errno = /\b(E[A-Z_]{4,})\b/.exec(last)?.[1];
  if (errno && ERRNO_WORDS[errno]) {
    const hint = errno === 'ECONNREFUSED' ? ': is compactd serve running there?' : '';
    return new CompactdError('unavailable', `${target} is unreachable (${ERRNO_WORDS[errno]})${hint}`, keep);
  }
  if (/Protocol error/i.test(last)) {
    const peer = await probeHttp1(target);
    if (peer.http1) {
      const grpc = peer.grpcPort !== undefined ? `gRPC listens on ${hostOf(target)}:${peer.grpcPort}` : 'gRPC listens on the --port of compactd serve (default 50051)';
      return new CompactdError('unavailable', `${target} answered ${peer.http1}, not gRPC: is this the metrics port? ${grpc}`, keep);
    }
    const hint = opts.tls ? 'check that the server uses TLS' : 'if the server uses TLS, add --tls or --tls-ca FILE';
    return new CompactdError('unavailable', `${target} does not speak gRPC over ${opts.tls ? 'TLS' : 'plain-text HTTP/2'}: ${hint}`, keep);
  }
  if (/TLS|SSL|certificate|handshake|wrong version number|secure/i.test(last)) {
    return new CompactdError('unavailable', `${target} is unreachable (TLS handshake failed: ${tlsReason(last)})`, keep);
  }
  return new CompactdError('unavailable', `${target} is unreachable (${oneLine(last)})`, keep);
}

/** An OpenSSL or Node TLS failure in words, with what to change. */
function tlsReason(text: string): string {
  if (/wrong version number|packet length too long/i.test(text)) return 'the server does not speak TLS; connect without --tls, --tls-ca or https://';
  if (/self[- ]signed|unable to (get|verify)|certificate verify failed|UNABLE_TO_VERIFY|DEPTH_ZERO/i.test(text)) {
    return 'the server certificate is not trusted; pass the CA that signed it with --tls-ca FILE';
  }
  if (/altnames|Hostname\/IP does not match|ERR_TLS_CERT_ALTNAME/i.test(text)) return 'the server certificate does not name this address';
  if (/certificate required|alert.*certificate|peer did not return a certificate/i.test(text)) return 'the server wants a client certificate; add --tls-cert and --tls-key';
  return oneLine(text.replace(/[0-9A-F]{8,}:error:[0-9A-F]+:[^:]*:[^:]*:/g, '').replace(/:\.\.\/deps\/openssl\S*/g, ''));
}

function oneLine(s: string): string {
  return s.replace(/^Error:\s*/, '').replace(/\s*\n\s*/g, ' ').trim();
}

function hostOf(target: string): string {
  return target.replace(/:\d+$/, '');
}

/**
 * Sends one HTTP/1.1 request to a `host:port` target and reports whether an HTTP/1 server
 * answered (its version text), and the gRPC port a compactd metrics port names.
 */
async function probeHttp1(target: string): Promise<{ http1?: string; grpcPort?: number }> {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target);
  if (!m) return {};
  return new Promise((resolve) => {
    let got = '';
    const socket = connect({ host: m[1], port: Number(m[2]) });
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const status = /^(HTTP\/1\.[01]) \d{3}/.exec(got);
      const port = new RegExp(`^${GRPC_PORT_HEADER}:\\s*(\\d+)\\s*$`, 'im').exec(got);
      resolve(status ? { http1: status[1], ...(port && Number(port[1]) > 0 ? { grpcPort: Number(port[1]) } : {}) } : {});
    };
    const timer = setTimeout(done, PROBE_MS);
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.write(`HEAD / HTTP/1.1\r\nHost: ${m[1]}\r\nConnection: close\r\n\r\n`));
    socket.on('data', (chunk: string) => {
      got += chunk;
      if (got.includes('\r\n\r\n') || got.length > 8192) done();
    });
    socket.on('error', done);
    socket.on('close', done);
  });
}
