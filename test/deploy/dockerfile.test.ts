/**
 * The Dockerfile against the project: it lints clean (dockerfile-utils, every diagnostic counts),
 * builds with `npm run build` and ships production dependencies only, runs as a non-root user,
 * exposes the ports the service listens on with the image's environment, runs `serve`, and health
 * checks through the `health` command with flags that command has. What the runtime stage copies
 * exists and is not excluded by .dockerignore.
 */
import { builtinModules } from 'node:module';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { parseFlags } from '../../src/cli/args.js';
import { HEALTH_FLAGS } from '../../src/cli/health.js';
import { COMMANDS } from '../../src/cli/main.js';
import { envName } from '../../src/config/env.js';
import { OPTIONS, parseServeOptions } from '../../src/config/options.js';
import { ROOT } from '../helpers/cli.js';
import { dockerInstructions, envPairs, repoText, type DockerInstruction } from './files.js';

const text = repoText('Dockerfile');
const all = dockerInstructions(text);
const lastStage = Math.max(...all.map((i) => i.stage));
const runtime = all.filter((i) => i.stage === lastStage);
const build = all.filter((i) => i.stage >= 0 && i.stage < lastStage);
const one = (list: readonly DockerInstruction[], keyword: string): DockerInstruction => {
  const found = list.filter((i) => i.keyword === keyword);
  expect(found, keyword).toHaveLength(1);
  return found[0];
};
const runtimeEnv = (): Record<string, string> => Object.assign({}, ...runtime.filter((i) => i.keyword === 'ENV').map((i) => envPairs(i.text)));
const ignored = repoText('.dockerignore')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

/**
 * Whether the build context leaves `src` out: the last pattern that matches it or a folder above
 * it decides, and a `!` pattern lets it back in (the docker rule, for the plain names used here).
 */
function dockerIgnores(src: string): boolean {
  const path = src.replace(/\/$/, '');
  let out = false;
  for (const raw of ignored) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).replace(/^\*\*\//, '').replace(/\/$/, '');
    if (path === pattern || path.startsWith(`${pattern}/`)) out = !negated;
  }
  return out;
}

describe('Dockerfile', () => {
  it('lints without a single diagnostic', () => {
    expect(validate(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it('builds in one stage and runs from a slim Node 20 image with production dependencies only', () => {
    expect(lastStage).toBeGreaterThanOrEqual(1);
    expect(build.some((i) => i.keyword === 'RUN' && /\bnpm run build\b/.test(i.text))).toBe(true);
    const pkg = JSON.parse(repoText('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.build).toBeDefined();
    const from = one(runtime, 'FROM').text;
    const image = from.startsWith('${') ? /ARG NODE_IMAGE=(\S+)/.exec(text)![1] : from.split(/\s+/)[0];
    expect(image).toMatch(/^node:20[-.\w]*slim/);
    const installs = runtime.filter((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.text));
    expect(installs).toHaveLength(1);
    // `prepare` builds the package, which needs the dev dependencies that are not installed here.
    expect(installs[0].text).toMatch(/--omit=dev/);
    expect(installs[0].text).toMatch(/--ignore-scripts/);
    expect(runtime.some((i) => i.keyword === 'COPY' && /--from=\S+\s+\S*dist\s/.test(`${i.text} `))).toBe(true);
  });

  it('runs as a non-root user', () => {
    const user = one(runtime, 'USER').text.split(':')[0];
    expect(['root', '0', '']).not.toContain(user);
  });

  it('exposes the gRPC and metrics ports the service binds with the image environment, on every interface', () => {
    const env = runtimeEnv();
    const unknown = Object.keys(env).filter((k) => k.startsWith('COMPACTD_') && !OPTIONS.some((o) => envName(o.flag) === k));
    expect(unknown).toEqual([]);
    const cmd = [...(one(runtime, 'ENTRYPOINT').exec ?? []), ...(one(runtime, 'CMD').exec ?? [])];
    expect(cmd[0]).toBe('/app/bin/compactd');
    expect(cmd[1]).toBe('serve');
    const opts = parseServeOptions(cmd.slice(2), env);
    expect(['0.0.0.0', '::']).toContain(opts.host);
    const exposed = runtime.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.text.split(/\s+/).map((p) => Number(p.split('/')[0])));
    expect(exposed.sort()).toEqual([opts.port, opts.metricsPort].sort());
    // A file:// store inside the image must be somewhere the non-root user may write.
    expect(opts.blob).toMatch(/^(file:\/\/\/var\/lib\/compactd|s3:)/);
  });

  it('health checks through the project\'s own `health` command, with flags it has', () => {
    const hc = one(runtime, 'HEALTHCHECK');
    const exec = hc.exec!;
    expect(exec[0]).toBe('/app/bin/compactd');
    expect(exec[1]).toBe('health');
    expect(COMMANDS.map((c) => c.name)).toContain(exec[1]);
    const flags = parseFlags(exec.slice(2), HEALTH_FLAGS, 'health').values;
    // Without --endpoint the command probes 127.0.0.1 on COMPACTD_PORT, which the image sets.
    if (!flags.has('endpoint')) expect(runtimeEnv()[envName('port')]).toBeDefined();
    const timeout = Number(/--timeout=(\d+)s/.exec(hc.text)?.[1]);
    expect(Number(flags.get('timeout-seconds') ?? 5)).toBeLessThan(timeout);
  });

  it('copies only what exists and what .dockerignore lets through', () => {
    const copies = all.filter((i) => i.keyword === 'COPY' && !/--from=/.test(i.text));
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) {
      const sources = c.text.split(/\s+/).slice(0, -1);
      for (const src of sources) {
        expect(existsSync(path.join(ROOT, src)), src).toBe(true);
        expect(dockerIgnores(src), `${src} is in .dockerignore`).toBe(false);
      }
    }
    // bin/compactd runs bin/compactd.js, which loads ../dist/cli/main.js, and the service loads proto/ at run time.
    const runtimeCopies = runtime.filter((i) => i.keyword === 'COPY').map((i) => i.text);
    for (const needed of ['bin', 'proto', 'dist']) expect(runtimeCopies.some((t) => new RegExp(`(^|/|\\s)${needed}\\s`).test(`${t} `)), needed).toBe(true);
    for (const heavy of ['node_modules', '.git', 'dist', 'data']) expect(ignored.map((p) => p.replace(/^\*\*\//, ''))).toContain(heavy);
  });

  it('ships every package the compiled service imports: they are all production dependencies', () => {
    const pkg = JSON.parse(repoText('package.json')) as { dependencies: Record<string, string> };
    const files = (readdirSync(path.join(ROOT, 'src'), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
    const imported = new Set<string>();
    for (const f of files) {
      const source = readFileSync(path.join(ROOT, 'src', f), 'utf8');
      // Type-only imports are erased by the compiler and need nothing at run time.
      for (const m of source.matchAll(/^(?:import|export)\s+(?!type\s)[^;]*?from\s+'([^'.][^']*)'|^import\s+'([^'.][^']*)'|import\('([^'.][^']*)'\)/gm)) {
        const spec = m[1] ?? m[2] ?? m[3];
        if (spec.startsWith('node:') || builtinModules.includes(spec)) continue;
        imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
      }
    }
    expect(imported.size).toBeGreaterThan(0);
    expect([...imported].filter((p) => !(p in pkg.dependencies))).toEqual([]);
  });
});
