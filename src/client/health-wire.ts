/**
 * The bytes of one `grpc.health.v1.Health/Check` call, written by hand so that a health check
 * needs neither gRPC nor protobufjs (docs/contract.md names the standard health service): the
 * gRPC length-prefixed message framing, the two messages of the `grpc.health.v1` package
 *
 *   message HealthCheckRequest  { string service = 1; }
 *   message HealthCheckResponse { ServingStatus status = 1; }   // UNKNOWN 0, SERVING 1, NOT_SERVING 2, SERVICE_UNKNOWN 3
 *
 * in the protobuf wire format, and the `grpc-timeout` header. A test checks them against what
 * grpc-js and grpc-health-check encode and decode.
 */
import { Buffer } from 'node:buffer';

/** What a health check may answer (grpc.health.v1.HealthCheckResponse.ServingStatus). */
export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

/** ServingStatus names by number. */
const STATUS_NAMES: readonly HealthStatus[] = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** The HTTP/2 path of the method. */
export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';

/** Protobuf wire types. */
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/** Bytes of the gRPC message prefix: a compressed flag, then the length as a big-endian uint32. */
const PREFIX_BYTES = 5;

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** A HealthCheckRequest for `service` ('' is the whole server; proto3 leaves it out). */
export function encodeHealthCheckRequest(service: string): Buffer {
  if (service === '') return Buffer.alloc(0);
  const text = Buffer.from(service, 'utf8');
  return Buffer.concat([Buffer.from([(1 << 3) | LENGTH_DELIMITED, ...varint(text.length)]), text]);
}

/** Reads a varint at `at`; returns its value (exact below 2^53) and the offset after it. */
function readVarint(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = at; i < bytes.length && i < at + 10; i++) {
    value += (bytes[i] & 0x7f) * scale;
    scale *= 128;
    if ((bytes[i] & 0x80) === 0) return [value, i + 1];
  }
  throw new Error('truncated varint');
}

/**
 * The serving status of a HealthCheckResponse. Unknown fields are skipped, as protobuf requires;
 * a status number this client does not know reads as UNKNOWN. Throws on malformed bytes.
 */
export function decodeHealthCheckResponse(bytes: Uint8Array): HealthStatus {
  let status = 0;
  let i = 0;
  while (i < bytes.length) {
    const [tag, next] = readVarint(bytes, i);
    i = next;
    const field = Math.floor(tag / 8);
    switch (tag % 8) {
      case VARINT: {
        const [value, after] = readVarint(bytes, i);
        if (field === 1) status = value;
        i = after;
        break;
      }
      case FIXED64:
        i += 8;
        break;
      case LENGTH_DELIMITED: {
        const [length, after] = readVarint(bytes, i);
        i = after + length;
        break;
      }
      case FIXED32:
        i += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${tag % 8}`);
    }
    if (i > bytes.length) throw new Error('truncated field');
  }
  return STATUS_NAMES[status] ?? 'UNKNOWN';
}

/** One gRPC message on the wire: uncompressed flag, big-endian length, the message. */
export function frameMessage(message: Uint8Array): Buffer {
  const prefix = Buffer.alloc(PREFIX_BYTES);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/**
 * The one message of a unary response body. Throws when the body is not exactly one
 * uncompressed message (this client asks for no compression, so a server may not use one).
 */
export function unframeMessage(body: Uint8Array): Uint8Array {
  if (body.length < PREFIX_BYTES) throw new Error(body.length === 0 ? 'no response message' : 'truncated message prefix');
  if (body[0] !== 0) throw new Error('compressed response message, but no compression was offered');
  const length = Buffer.from(body.buffer, body.byteOffset, body.byteLength).readUInt32BE(1);
  if (body.length !== PREFIX_BYTES + length) throw new Error(`response body of ${body.length} bytes does not hold one message of ${length}`);
  return body.subarray(PREFIX_BYTES);
}

/** Largest value of `grpc-timeout` (the protocol allows at most 8 digits). */
const MAX_TIMEOUT_DIGITS = 99_999_999;

/** The `grpc-timeout` header for `ms` milliseconds: whole milliseconds, rounded up, or seconds when too many. */
export function grpcTimeout(ms: number): string {
  const millis = Math.max(1, Math.ceil(ms));
  if (millis <= MAX_TIMEOUT_DIGITS) return `${millis}m`;
  return `${Math.min(MAX_TIMEOUT_DIGITS, Math.ceil(millis / 1000))}S`;
}

/** `grpc-message` as sent: percent-encoded UTF-8; kept as it is when it does not decode. */
export function decodeGrpcMessage(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
