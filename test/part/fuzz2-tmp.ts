import { readFileSync } from 'node:fs';
import { RecordBatchReader, MessageReader, type RecordBatchFileReader } from 'apache-arrow';
const bytes = new Uint8Array(readFileSync(process.argv[2]));
const r = RecordBatchReader.from(bytes) as RecordBatchFileReader;
console.time('open'); r.open(); console.timeEnd('open');
console.log(r.schema.fields.map(f => `${f.name}:${f.type}:${f.nullable}`), r.numRecordBatches);
const footer = r.footer!;
for (let i = 0; i < footer.numRecordBatches; i++) {
  const b = footer.getRecordBatch(i)!;
  console.log('block', b.offset, b.metaDataLength, b.bodyLength);
  const m = new MessageReader(bytes.subarray(Number(b.offset))).readMessage()!;
  const h = m.header() as any;
  console.log('len', h.length, 'nodes', h.nodes.map((n: any) => [n.length, n.nullCount]), 'buffers', h.buffers.map((x: any) => [x.offset, x.length]), 'compr', h.compression);
}
