#!/usr/bin/env node
// The CLI runs from the compiled output so a fresh `npm ci` (which builds via `prepare`) is enough.
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`INTERNAL: ${err instanceof Error ? err.message : String(err)}\n`); process.exitCode = 1; },
);
