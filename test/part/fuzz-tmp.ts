import { writeFileSync } from 'node:fs';
import { CompressionType, tableFromIPC, tableToIPC } from 'apache-arrow';
import { ensureCodecs } from '../../src/part/codecs.js';
import { decodePart } from '../../src/part/decode.js';
import { encodePart } from '../../src/part/encode.js';
import { columnsFromUpdates } from '../../src/part/rows.js';
import { metaOf } from './util.js';
await ensureCodecs();
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const updates = [
  { k: enc('apple'), v: enc('red'), t: [1n, 5n], d: 1n },
  { k: enc('banana'), v: enc('yellow'), t: [2n, 3n], d: -2n },
  { k: enc('cherry'), v: enc(''), t: [3n, 1n], d: 7n },
];
const good2 = encodePart(columnsFromUpdates(updates, 2), metaOf(2));
const zstd = encodePart(columnsFromUpdates(updates, 2), metaOf(2), { compression: 'zstd' });
const lz4 = tableToIPC(tableFromIPC(good2), 'file', CompressionType.LZ4_FRAME);
const msgs = new Map<string, number>();
let seed = Number(process.argv[2] ?? 1);
const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
for (let iter = 0; iter < 20000; iter++) {
  const orig = [good2, zstd, lz4][iter % 3];
  const bytes = orig.slice();
  const nf = 1 + (rnd() % 4);
  for (let f = 0; f < nf; f++) bytes[6 + (rnd() % (bytes.length - 12))] ^= 1 + (rnd() % 255);
  writeFileSync('/tmp/case.bin', bytes);
  const t0 = Date.now();
  let m = 'ok';
  try { decodePart(bytes, 'x'); } catch (e) { m = (e as Error).message.replace(/\d+/g, 'N').slice(0, 90); }
  if (Date.now() - t0 > 100) console.log('SLOW', iter, Date.now() - t0, m);
  msgs.set(m, (msgs.get(m) ?? 0) + 1);
}
for (const [m, n] of [...msgs].sort((a, b) => b[1] - a[1])) console.log(n, m);
