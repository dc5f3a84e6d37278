#!/usr/bin/env node
// Offline checks of the deployment files: `docker-compose config -q` (with and without the
// optional loadgen profile) and dockerfile-utils on the Dockerfile, where every diagnostic, a
// warning included, fails (its own CLI exits 0 on warnings). Exits 1 on the first problem.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validate } from 'dockerfile-utils';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let failed = false;

const compose = spawnSync('docker-compose', ['version'], { stdio: 'ignore' });
if (compose.error || compose.status !== 0) {
  // CI installs it (.ci/run); a workstation without it still gets the Dockerfile lint.
  console.error('lint:deploy: docker-compose not found; skipping `docker-compose config -q` (apt-get install docker-compose)');
  if (process.env.CI === 'true') failed = true;
} else {
  for (const args of [['config', '-q'], ['--profile', 'loadgen', 'config', '-q']]) {
    const r = spawnSync('docker-compose', args, { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) {
      console.error(`docker-compose ${args.join(' ')} failed:\n${r.stderr}`);
      failed = true;
    }
  }
}

const text = readFileSync(join(root, 'Dockerfile'), 'utf8');
for (const d of validate(text)) {
  console.error(`Dockerfile:${d.range.start.line + 1}: ${d.message}`);
  failed = true;
}

if (failed) process.exit(1);
console.log('lint:deploy: docker-compose.yml and Dockerfile are clean');
