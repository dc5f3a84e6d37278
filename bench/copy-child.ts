/**
 * Child process of the user section: the copy pipeline (bench/copy.ts) as a whole process, the
 * way `compactd compact --local` runs, so the two compare start-up included. Reads the request
 * JSON file, copies every input part within the file store at `dir` (fsync on, as the CLI's
 * store), and prints the object keys it wrote and the rows it copied as one JSON line.
 *
 * argv: dir, request file, target part bytes, memory bound bytes.
 */
import { readFile } from 'node:fs/promises';
import { FileBlob } from '../src/blob/file.js';
import { DEFAULT_ENGINE_CONFIG } from '../src/compact/types.js';
import { compactRequestFromJson } from '../src/wire/json.js';
import { copyPipeline } from './copy.js';

async function main(): Promise<void> {
  const [dir, requestFile, target, bound] = process.argv.slice(2);
  const req = compactRequestFromJson(JSON.parse(await readFile(requestFile, 'utf8')));
  const blob = new FileBlob(dir);
  const config = { ...DEFAULT_ENGINE_CONFIG, targetPartBytes: Number(target), memoryBoundBytes: Number(bound) };
  const res = await copyPipeline(req, blob, config);
  process.stdout.write(`${JSON.stringify({ written: res.written, rows: res.rows, bytesOut: res.bytesOut })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
