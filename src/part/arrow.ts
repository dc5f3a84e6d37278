/**
 * apache-arrow for the part codec, one instance per process. The built program loads it from
 * dist/vendor/apache-arrow.js, one file that `npm run build` bundles from the package
 * (scripts/bundle-vendor.mjs): the package's own entry is a tree of about 150 ES modules whose
 * loading cost about 0.2 CPU-s per process on the project's machines, a tenth of a whole
 * compaction of 287 MB, and the bundle, the same code, loads in a few hundredths. Where there is
 * no bundle (the sources run by the test runner) the package itself is loaded.
 *
 * Every part module takes apache-arrow's values from here, so the process has one
 * `compressionRegistry` (src/part/codecs.ts registers into it) and one set of classes. Types come
 * from the package's declarations, which describe both.
 */
import { fileURLToPath } from 'node:url';
import type * as Arrow from 'apache-arrow';

const BUNDLE = new URL('../vendor/apache-arrow.js', import.meta.url);

async function load(): Promise<typeof Arrow> {
  try {
    return (await import(BUNDLE.href)) as typeof Arrow;
  } catch (err) {
    // Only a missing bundle falls back; a bundle that fails to load is an error worth seeing.
    const missing = (err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(fileURLToPath(BUNDLE));
    if (!missing) throw err;
    return import('apache-arrow');
  }
}

const arrow = await load();

export const {
  Binary,
  CompressionType,
  Field,
  FixedSizeList,
  Int64,
  RecordBatch,
  RecordBatchFileWriter,
  RecordBatchReader,
  Schema,
  Struct,
  Type,
  Uint64,
  makeData,
} = arrow;

/** Where Arrow's readers and writers find body codecs (its public methods; the class is not exported). */
export const compressionRegistry: Pick<typeof Arrow.compressionRegistry, 'get' | 'set'> = arrow.compressionRegistry;

export type Binary = Arrow.Binary;
export type CompressionType = Arrow.CompressionType;
export type Data<T extends Arrow.DataType = Arrow.DataType> = Arrow.Data<T>;
export type DataType = Arrow.DataType;
export type Field = Arrow.Field;
export type FixedSizeList<T extends Arrow.DataType = Arrow.DataType> = Arrow.FixedSizeList<T>;
export type Int = Arrow.Int;
export type RecordBatch = Arrow.RecordBatch;
export type RecordBatchFileReader = Arrow.RecordBatchFileReader;
export type Schema = Arrow.Schema;
export type Type = Arrow.Type;
export type Uint64 = Arrow.Uint64;
