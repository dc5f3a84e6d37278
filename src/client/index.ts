/**
 * The writer library: what a process that owns a shard uses to write batches of updates as parts
 * and to read them back. It depends on the model, the part codec and the blob stores only.
 */
export { BatchWriter, estimateRowBytes, sha256Checksum, splitBySize, type BatchWriterOptions, type WriteOptions } from './batch-writer.js';
export { BatchReader, type BatchReaderOptions, type ReadOptions } from './batch-reader.js';
export type { Update } from '../model/update.js';
export type { HollowBatch, HollowPart, InlinePart, Part, Run, RunOrder } from '../model/batch.js';
export type { Description } from '../model/description.js';
