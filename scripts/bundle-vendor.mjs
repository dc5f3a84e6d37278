#!/usr/bin/env node
// Part of `npm run build`: bundles apache-arrow into one file, dist/vendor/apache-arrow.js, which
// src/part/arrow.ts loads in the built program. The package's own entry is a tree of about 150
// ES modules whose loading cost about 0.2 CPU-s per process, a tenth of a whole compaction of
// 287 MB; the bundle is the same code (names kept, not minified: src/part/encode.ts extends the
// file writer's protected methods) and loads in a few hundredths. Its license comments are kept.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

await build({
  stdin: { contents: "export * from 'apache-arrow';", resolveDir: root, sourcefile: 'apache-arrow-entry.js' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: join(root, 'dist', 'vendor', 'apache-arrow.js'),
  legalComments: 'eof',
  logLevel: 'warning',
});
