/**
 * Structural checks of an Arrow IPC file's flatbuffer metadata, run before apache-arrow reads it.
 *
 * apache-arrow trusts the metadata: a corrupted vector length in the footer or in a record batch
 * message makes it loop over (and allocate for) billions of entries, which exhausts the heap and
 * kills the process instead of throwing; a negative null count makes it count bits over the
 * claimed length; a child shorter than its batch makes it allocate a validity bitmap for the
 * batch length. So before each apache-arrow step, the flatbuffers it will walk are checked here:
 * every table, vector and string must lie inside its buffer, field trees are bounded, and record
 * batch lengths and field nodes must be consistent with the part schema. Only the metadata is
 * walked, never the rows: the cost is independent of the part size.
 *
 * Everything here throws plain Errors; the decoder reports them as data loss.
 */
import type { DeclaredBuffer } from './codecs.js';

/** A record batch's location in the file (the footer's Block struct). */
export interface FileBlock {
  readonly offset: number;
  readonly metaDataLength: number;
  readonly bodyLength: number;
}

/** Field trees larger than this are not part schemas (a part has 5 fields at most). */
const MAX_FIELDS = 256;
const MAX_FIELD_DEPTH = 16;
/** Arrow Binary offsets are int32: no array of a part can be longer. */
const MAX_LENGTH = 0x7fffffff;
const BLOCK_SIZE = 24;
const FIELD_NODE_SIZE = 16;
const BUFFER_SIZE = 16;
const HEADER_RECORD_BATCH = 3;
/** Every non-empty buffer of a compressed body starts with its length as an int64. */
const PREFIX_BYTES = 8;

// vtable slots (byte offsets into the vtable) from Arrow's File.fbs, Schema.fbs and Message.fbs.
const FOOTER_SCHEMA = 6;
const FOOTER_DICTIONARIES = 8;
const FOOTER_RECORD_BATCHES = 10;
const FOOTER_CUSTOM_METADATA = 12;
const SCHEMA_FIELDS = 6;
const SCHEMA_CUSTOM_METADATA = 8;
const SCHEMA_FEATURES = 10;
const FIELD_NAME = 4;
const FIELD_TYPE = 10;
const FIELD_DICTIONARY = 12;
const FIELD_CHILDREN = 14;
const FIELD_CUSTOM_METADATA = 16;
const KEY_VALUE_KEY = 4;
const KEY_VALUE_VALUE = 6;
const MESSAGE_HEADER_TYPE = 6;
const MESSAGE_HEADER = 8;
const MESSAGE_BODY_LENGTH = 10;
const MESSAGE_CUSTOM_METADATA = 12;
const BATCH_LENGTH = 4;
const BATCH_NODES = 6;
const BATCH_BUFFERS = 8;
const BATCH_COMPRESSION = 10;
const BATCH_VARIADIC_COUNTS = 12;

/** A bounds-checked reader over one flatbuffer. */
class Flatbuffer {
  private readonly view: DataView;
  readonly size: number;

  constructor(bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.size = bytes.byteLength;
  }

  private at(pos: number, width: number): number {
    if (!(pos >= 0 && pos + width <= this.size)) throw new Error('flatbuffer reference out of bounds');
    return pos;
  }

  u8(pos: number): number {
    return this.view.getUint8(this.at(pos, 1));
  }

  u16(pos: number): number {
    return this.view.getUint16(this.at(pos, 2), true);
  }

  i32(pos: number): number {
    return this.view.getInt32(this.at(pos, 4), true);
  }

  u32(pos: number): number {
    return this.view.getUint32(this.at(pos, 4), true);
  }

  i64(pos: number): number {
    const v = this.view.getBigInt64(this.at(pos, 8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new Error('integer out of range');
    return Number(v);
  }

  /** Checks the table at `pos` and its vtable; returns `pos`. */
  table(pos: number): number {
    const vtable = pos - this.i32(pos);
    const vtableSize = this.u16(vtable);
    const tableSize = this.u16(vtable + 2);
    if (vtableSize < 4 || vtableSize % 2 !== 0) throw new Error('bad flatbuffer vtable');
    this.at(vtable, vtableSize);
    this.at(pos, tableSize);
    return pos;
  }

  root(): number {
    return this.table(this.u32(0));
  }

  /** The position of field `slot` of the table at `pos`, or 0 when absent. */
  field(pos: number, slot: number): number {
    const vtable = pos - this.i32(pos);
    if (slot >= this.u16(vtable)) return 0;
    const off = this.u16(vtable + slot);
    if (off === 0) return 0;
    if (off >= this.u16(vtable + 2)) throw new Error('flatbuffer field outside its table');
    return pos + off;
  }

  /** The target of the offset field `slot`, or 0 when absent. */
  ref(pos: number, slot: number): number {
    const f = this.field(pos, slot);
    return f === 0 ? 0 : f + this.u32(f);
  }

  /** The element count of vector field `slot` after checking its elements fit; 0 when absent. */
  vector(pos: number, slot: number, elementSize: number): { start: number; length: number } {
    const v = this.ref(pos, slot);
    if (v === 0) return { start: 0, length: 0 };
    const length = this.u32(v);
    if (length * elementSize > this.size - v - 4) throw new Error('flatbuffer vector out of bounds');
    return { start: v + 4, length };
  }

  /** The table that element `i` of a vector of tables points to. */
  tableIn(start: number, i: number): number {
    const e = start + 4 * i;
    return this.table(e + this.u32(e));
  }

  string(pos: number, slot: number): void {
    const s = this.ref(pos, slot);
    if (s !== 0) this.at(s + 4, this.u32(s));
  }

  optionalTable(pos: number, slot: number): number {
    const t = this.ref(pos, slot);
    return t === 0 ? 0 : this.table(t);
  }
}

/**
 * Checks the footer flatbuffer of the Arrow IPC file `bytes` (already known to carry the magic at
 * both ends) and returns its record batch blocks. Rejects dictionary batches (no part column is
 * dictionary-encoded) and blocks that lie outside the file.
 */
export function verifyFooter(bytes: Uint8Array): FileBlock[] {
  const size = bytes.length;
  const footerLength = new DataView(bytes.buffer, bytes.byteOffset + size - 10, 4).getInt32(0, true);
  const fb = new Flatbuffer(bytes.subarray(size - 10 - footerLength, size - 10));
  const footer = fb.root();
  const schema = fb.optionalTable(footer, FOOTER_SCHEMA);
  if (schema === 0) throw new Error('footer has no schema');
  verifySchema(fb, schema);
  keyValues(fb, footer, FOOTER_CUSTOM_METADATA);
  if (fb.vector(footer, FOOTER_DICTIONARIES, BLOCK_SIZE).length !== 0) throw new Error('dictionary batches are not allowed');
  const { start, length } = fb.vector(footer, FOOTER_RECORD_BATCHES, BLOCK_SIZE);
  const blocks: FileBlock[] = [];
  for (let i = 0; i < length; i++) {
    const p = start + i * BLOCK_SIZE;
    const block = { offset: fb.i64(p), metaDataLength: fb.i32(p + 8), bodyLength: fb.i64(p + 16) };
    if (
      block.offset < 8 ||
      block.metaDataLength <= 0 ||
      block.bodyLength < 0 ||
      block.offset + block.metaDataLength + block.bodyLength > size - 10 - footerLength
    ) {
      throw new Error(`record batch block ${i} lies outside the file`);
    }
    blocks.push(block);
  }
  return blocks;
}

function verifySchema(fb: Flatbuffer, schema: number): void {
  let budget = MAX_FIELDS;
  const fields = (table: number, slot: number, depth: number): void => {
    if (depth > MAX_FIELD_DEPTH) throw new Error('schema nests too deep');
    const { start, length } = fb.vector(table, slot, 4);
    for (let i = 0; i < length; i++) {
      if (--budget < 0) throw new Error('schema has too many fields');
      const field = fb.tableIn(start, i);
      fb.string(field, FIELD_NAME);
      fb.optionalTable(field, FIELD_TYPE);
      fb.optionalTable(field, FIELD_DICTIONARY);
      keyValues(fb, field, FIELD_CUSTOM_METADATA);
      fields(field, FIELD_CHILDREN, depth + 1);
    }
  };
  fields(schema, SCHEMA_FIELDS, 0);
  keyValues(fb, schema, SCHEMA_CUSTOM_METADATA);
  fb.vector(schema, SCHEMA_FEATURES, 8);
}

function keyValues(fb: Flatbuffer, table: number, slot: number): void {
  const { start, length } = fb.vector(table, slot, 4);
  for (let i = 0; i < length; i++) {
    const kv = fb.tableIn(start, i);
    fb.string(kv, KEY_VALUE_KEY);
    fb.string(kv, KEY_VALUE_VALUE);
  }
}

/**
 * The field nodes a record batch of the (already validated) part schema carries, in order:
 * `columns[i]` is the column name of node i and `lengthFactor[i]` how many entries node i holds
 * per row (1, or dims for the coordinates under a FixedSizeList).
 */
export interface NodeLayout {
  readonly columns: readonly string[];
  readonly lengthFactor: readonly number[];
}

/** What a record batch's body holds, from its metadata and buffer prefixes. */
export interface RecordBatchBody {
  /**
   * The bytes the body's buffers take once decoded: for a compressed body, the sum of the
   * uncompressed lengths each buffer declares in its 8-byte prefix (known before decompressing).
   */
  readonly decodedBytes: number;
  /** The compressed buffers (prefix other than -1), in body order: the order they are decoded. */
  readonly compressed: DeclaredBuffer[];
}

/**
 * Checks the record batch message of `block` (record batch number `index`) in the file `bytes`:
 * its flatbuffer, that it is a record batch whose body lies inside the file, that its length and
 * every field node's length agree with `layout`, that no node has nulls, that every buffer lies
 * inside the body, and, for a compressed body, that every non-empty buffer has room for its
 * length prefix and the prefix is -1 (stored raw) or a length up to `maxBufferBytes`.
 */
export function verifyRecordBatch(bytes: Uint8Array, block: FileBlock, index: number, layout: NodeLayout, maxBufferBytes: number): RecordBatchBody {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = block.offset;
  let metaLength = view.getInt32(pos, true);
  pos += 4;
  if (metaLength === -1) {
    // The continuation marker of the current IPC format; older writers omit it.
    metaLength = view.getInt32(pos, true);
    pos += 4;
  }
  if (metaLength <= 0 || pos + metaLength > block.offset + block.metaDataLength) {
    throw new Error('record batch metadata does not fit its block');
  }
  const fb = new Flatbuffer(bytes.subarray(pos, pos + metaLength));
  const message = fb.root();
  const headerType = fb.field(message, MESSAGE_HEADER_TYPE);
  if (headerType === 0 || fb.u8(headerType) !== HEADER_RECORD_BATCH) throw new Error('block is not a record batch');
  const bodyField = fb.field(message, MESSAGE_BODY_LENGTH);
  const bodyLength = bodyField === 0 ? 0 : fb.i64(bodyField);
  if (bodyLength < 0 || pos + metaLength + bodyLength > bytes.length) throw new Error('record batch body lies outside the file');
  keyValues(fb, message, MESSAGE_CUSTOM_METADATA);
  const batch = fb.optionalTable(message, MESSAGE_HEADER);
  if (batch === 0) throw new Error('record batch message has no header');
  const compressed = fb.optionalTable(batch, BATCH_COMPRESSION) !== 0;
  fb.vector(batch, BATCH_VARIADIC_COUNTS, 8);

  const lengthField = fb.field(batch, BATCH_LENGTH);
  const rows = lengthField === 0 ? 0 : fb.i64(lengthField);
  if (rows < 0 || rows > MAX_LENGTH) throw new Error(`record batch length ${rows} out of range`);

  const nodes = fb.vector(batch, BATCH_NODES, FIELD_NODE_SIZE);
  if (nodes.length < layout.columns.length) throw new Error(`record batch has ${nodes.length} field nodes, expected ${layout.columns.length}`);
  for (let i = 0; i < layout.columns.length; i++) {
    const p = nodes.start + i * FIELD_NODE_SIZE;
    const length = fb.i64(p);
    const nullCount = fb.i64(p + 8);
    const expected = rows * layout.lengthFactor[i];
    if (length !== expected) throw new Error(`column ${layout.columns[i]} has ${length} entries, expected ${expected}`);
    if (nullCount !== 0) throw new Error(`column ${layout.columns[i]} holds nulls`);
  }

  const buffers = fb.vector(batch, BATCH_BUFFERS, BUFFER_SIZE);
  const bodyStart = block.offset + block.metaDataLength;
  let decodedBytes = 0;
  const declaredBuffers: DeclaredBuffer[] = [];
  for (let i = 0; i < buffers.length; i++) {
    const p = buffers.start + i * BUFFER_SIZE;
    const offset = fb.i64(p);
    const length = fb.i64(p + 8);
    if (offset < 0 || length < 0 || offset + length > bodyLength) throw new Error(`buffer ${i} lies outside the record batch body`);
    if (!compressed || length === 0) {
      decodedBytes += length;
      continue;
    }
    // A compressed buffer starts with its uncompressed length as a little-endian int64; -1 means
    // the bytes after it are stored raw.
    if (length < PREFIX_BYTES) throw new Error(`record batch ${index} buffer ${i} is too short for its length prefix`);
    const declared = view.getBigInt64(bodyStart + offset, true);
    if (declared === -1n) {
      decodedBytes += length - PREFIX_BYTES;
    } else if (declared < 0n || declared > BigInt(maxBufferBytes)) {
      throw new Error(`record batch ${index} buffer ${i} declares ${declared} bytes uncompressed`);
    } else {
      decodedBytes += Number(declared);
      declaredBuffers.push({ where: `record batch ${index} buffer ${i}`, declared: Number(declared), stored: length - PREFIX_BYTES });
    }
  }
  return { decodedBytes, compressed: declaredBuffers };
}
