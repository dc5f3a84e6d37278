/**
 * Start-up: a command loads only what it uses. The built CLI's `main` runs in a fresh process
 * with a module resolve hook recording every ES module it resolves; together with the CommonJS
 * module cache (gRPC, pino and the AWS SDK are CommonJS) that is every package the run loaded.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/main.js';
import { ROOT } from '../helpers/cli.js';
import { startTestServer, type TestServer } from '../service/harness.js';

const execFileAsync = promisify(execFile);

/** Records each resolved module URL to a file, synchronously, before the module loads. */
const RESOLVE_HOOK = `
  import { appendFileSync } from 'node:fs';
  let file;
  export function initialize(data) { file = data.file; }
  export async function resolve(specifier, context, next) {
    const r = await next(specifier, context);
    appendFileSync(file, r.url + '\\n');
    return r;
  }
`;

interface Loaded {
  readonly code: number;
  /** Packages (node_modules/<name> or @scope/name, or their bundle in dist/vendor) any module was loaded from. */
  readonly packages: string[];
}

/** Runs `main(argv)` from dist in a fresh process; resolves with its exit code and the packages it loaded. */
async function packagesLoaded(argv: string[], stdin = ''): Promise<Loaded> {
  const dir = await mkdtemp(join(tmpdir(), 'compactd-lazy-'));
  const file = join(dir, 'resolved');
  const script = `
    import { register, createRequire } from 'node:module';
    import { readFileSync } from 'node:fs';
    import { Readable } from 'node:stream';
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(RESOLVE_HOOK)}), { data: { file: ${JSON.stringify(file)} } });
    const { main } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'cli', 'main.js')).href)});
    const out = { write: () => true, once: () => out };
    const code = await main(${JSON.stringify(argv)}, { stdout: out, stderr: out, stdin: Readable.from([${JSON.stringify(stdin)}]) });
    const esm = readFileSync(${JSON.stringify(file)}, 'utf8').split('\\n').filter((u) => u.startsWith('file:')).map((u) => new URL(u).pathname);
    const files = [...esm, ...Object.keys(createRequire(import.meta.url).cache)];
    // A package bundled by the build (dist/vendor/<name>.js, scripts/bundle-vendor.mjs) counts as that package.
    const packages = new Set(files.map((f) => (/node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(f) ?? /\\/dist\\/vendor\\/(.+)\\.js$/.exec(f))?.[1]).filter(Boolean));
    process.stdout.write(JSON.stringify({ code, packages: [...packages] }));
  `;
  try {
    const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
    return JSON.parse(stdout) as Loaded;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Packages that cost start-up time and that neither help nor a health check needs. */
const HEAVY = /^(protobufjs|pino|@grpc\/.*|grpc-health-check|apache-arrow|@aws-sdk\/.*)$/;

function heavy(loaded: Loaded): string[] {
  return loaded.packages.filter((p) => HEAVY.test(p));
}

let dir: string;
let ts: TestServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'compactd-lazy-server-'));
  ts = await startTestServer(pathToFileURL(dir).href, ['--workers', '1']);
});

afterAll(async () => {
  await ts?.server.shutdown();
  await rm(dir, { recursive: true, force: true });
});

describe('start-up: a command loads only what it uses', { timeout: 120_000 }, () => {
  it('sees what a command loads (the check itself can fail)', async () => {
    // An empty batch still loads the part codec: Arrow, which only ever loads as an ES module.
    const loaded = await packagesLoaded(['write-batch', '--blob', 'mem://lazy', '--shard', 's1', '--lower', '[["0"]]', '--upper', '[["10"]]']);
    expect(loaded.code).toBe(0);
    expect(loaded.packages).toContain('apache-arrow');
    // CommonJS: the JSON codec reads the .proto with protobufjs.
    expect(loaded.packages).toContain('long');
  });

  it('--help, --version and an unknown command load none of protobufjs, pino, gRPC, Arrow, the AWS SDK', async () => {
    for (const argv of [['--help'], ['--version'], ['help'], ['compcat']]) {
      const loaded = await packagesLoaded(argv);
      expect(heavy(loaded), argv.join(' ')).toEqual([]);
    }
  });

  it('<command> --help loads none of them, for every command', async () => {
    for (const { name } of COMMANDS) {
      const loaded = await packagesLoaded([name, '--help']);
      expect(loaded.code, name).toBe(0);
      expect(heavy(loaded), name).toEqual([]);
    }
    expect(heavy(await packagesLoaded(['config', 'set', '--help']))).toEqual([]);
  });

  it('health loads neither gRPC nor protobufjs, answering SERVING or failing', async () => {
    const serving = await packagesLoaded(['health', '--endpoint', ts.server.address]);
    expect(serving.code).toBe(0);
    const unknown = await packagesLoaded(['health', '--endpoint', ts.server.address, '--service', 'no.such.Service']);
    expect(unknown.code).toBe(1);
    for (const loaded of [serving, unknown]) {
      expect(loaded.packages.filter((p) => /^(@grpc\/.*|grpc-health-check|protobufjs)$/.test(p))).toEqual([]);
    }
  });

  it('an error prints its status code name without loading gRPC', async () => {
    // Not a usage error (those print no status name): a request that is not JSON.
    const loaded = await packagesLoaded(['compact', '--local', '--blob', 'mem://lazy'], 'not json');
    expect(loaded.code).toBe(1);
    expect(loaded.packages.filter((p) => p.startsWith('@grpc/'))).toEqual([]);
  });
});
