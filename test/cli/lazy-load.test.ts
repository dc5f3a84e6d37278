import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

const execFileAsync = promisify(execFile);

/**
 * Runs the built CLI's `main` with `argv` in a fresh process and returns the CommonJS packages it
 * loaded (gRPC and the AWS SDK are CommonJS, so they show in the module cache once loaded).
 */
async function packagesLoaded(argv: string[], stdin = ''): Promise<string[]> {
  const script = `
    import { createRequire } from 'node:module';
    const { main } = await import(${JSON.stringify(join(ROOT, 'dist', 'cli', 'main.js'))});
    const out = { write: () => true, once: () => out };
    const { Readable } = await import('node:stream');
    await main(${JSON.stringify(argv)}, { stdout: out, stderr: out, stdin: Readable.from([${JSON.stringify(stdin)}]) });
    const cache = createRequire(import.meta.url).cache;
    const names = new Set(Object.keys(cache).map((f) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(f)?.[1]).filter(Boolean));
    process.stdout.write(JSON.stringify([...names]));
  `;
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
  return JSON.parse(stdout) as string[];
}

describe('start-up: a command loads only what it uses', () => {
  it('--help loads neither gRPC nor the AWS SDK', async () => {
    const loaded = await packagesLoaded(['--help']);
    expect(loaded).not.toContain('@grpc/grpc-js');
    expect(loaded).not.toContain('@aws-sdk/client-s3');
  });

  it('a command\'s --help loads neither gRPC nor the AWS SDK', async () => {
    for (const cmd of ['compact', 'health', 'serve', 'loadgen', 'demo']) {
      const loaded = await packagesLoaded([cmd, '--help']);
      expect(loaded, cmd).not.toContain('@grpc/grpc-js');
      expect(loaded, cmd).not.toContain('@aws-sdk/client-s3');
    }
  });

  it('an error still prints its status code name (the status table loads on the error path)', async () => {
    // Not a usage error (those print no status name): a request that is not JSON.
    const loaded = await packagesLoaded(['compact', '--local', '--blob', 'mem://lazy'], 'not json');
    expect(loaded).toContain('@grpc/grpc-js');
  });
});
