/**
 * The built program takes apache-arrow from the bundle `npm run build` writes
 * (dist/vendor/apache-arrow.js, src/part/arrow.ts): one instance, the bundle's, and a clear error
 * rather than a silent fallback when the bundle is there but broken. Without a bundle (the
 * sources under the test runner) the package itself is loaded.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tableFromIPC } from '@uwdata/flechette';
import type { Update } from '../../src/model/update.js';
import { columnsFromUpdates, updatesFromColumns } from '../../src/part/rows.js';
import { ROOT } from '../helpers/cli.js';
import { metaOf } from './util.js';

const execFileAsync = promisify(execFile);

/** Runs an ES module script in a fresh node process from the repository root; resolves to its stdout. */
async function nodeModule(script: string): Promise<string> {
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
  return stdout.trim();
}

/** Which apache-arrow the module at `arrowModule` handed out: 'bundle', 'package' or 'neither'. */
function whichArrow(arrowModule: string, bundle: string): string {
  return `
    const mine = await import(${JSON.stringify(arrowModule)});
    const fromBundle = await import(${JSON.stringify(bundle)}).catch(() => ({}));
    const fromPackage = await import('apache-arrow');
    const same = (m) => m.RecordBatchFileWriter === mine.RecordBatchFileWriter && m.Type === mine.Type && m.makeData === mine.makeData;
    process.stdout.write(same(fromBundle) ? 'bundle' : same(fromPackage) ? 'package' : 'neither');
  `;
}

describe('apache-arrow in the built program', () => {
  it('dist/part/arrow.js hands out the bundle, whose writer and reader round-trip a part', async () => {
    expect(await nodeModule(whichArrow(join(ROOT, 'dist', 'part', 'arrow.js'), join(ROOT, 'dist', 'vendor', 'apache-arrow.js')))).toBe('bundle');
    // The encoder subclasses the bundle's file writer (protected members by name): parts
    // encoded by the built modules, plain and compressed, decode to the same rows, with the
    // built decoder (and the plain one with flechette).
    type Encode = typeof import('../../src/part/encode.js');
    type Decode = typeof import('../../src/part/decode.js');
    type Codecs = typeof import('../../src/part/codecs.js');
    const { encodePart } = (await import(join(ROOT, 'dist', 'part', 'encode.js'))) as Encode;
    const { decodePart } = (await import(join(ROOT, 'dist', 'part', 'decode.js'))) as Decode;
    const { ensureCodecs } = (await import(join(ROOT, 'dist', 'part', 'codecs.js'))) as Codecs;
    await ensureCodecs();
    const updates: Update[] = [
      { k: new TextEncoder().encode('a'), v: new Uint8Array(0), t: [1n], d: 1n },
      { k: new TextEncoder().encode('bb'), v: new TextEncoder().encode('x'), t: [2n], d: -2n },
      { k: new TextEncoder().encode('ccc'), v: new TextEncoder().encode('yy'), t: [3n], d: 3n },
    ];
    for (const compression of ['none', 'zstd', 'lz4'] as const) {
      const bytes = encodePart(columnsFromUpdates(updates, 1), metaOf(1), { compression });
      expect(updatesFromColumns(decodePart(bytes, 'p').cols), compression).toEqual(updates);
      // flechette without codecs: the uncompressed part (test/part/interop.test.ts has the rest).
      if (compression === 'none') expect(tableFromIPC(bytes).numRows).toBe(3);
    }
  });

  describe('loading rules (a copy of the built module beside a bundle of our making)', () => {
    let dir: string;
    beforeAll(async () => {
      // Inside the repository, so that the fallback resolves the package from its node_modules.
      await mkdir(join(ROOT, '.tmp'), { recursive: true });
      dir = await mkdtemp(join(ROOT, '.tmp', 'arrow-'));
      await mkdir(join(dir, 'part'));
      await cp(join(ROOT, 'dist', 'part', 'arrow.js'), join(dir, 'part', 'arrow.js'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('falls back to the package when there is no bundle', async () => {
      expect(await nodeModule(whichArrow(join(dir, 'part', 'arrow.js'), join(dir, 'vendor', 'apache-arrow.js')))).toBe('package');
    });

    it('a bundle that fails to load is an error, not a silent fallback', async () => {
      await mkdir(join(dir, 'vendor'), { recursive: true });
      await writeFile(join(dir, 'vendor', 'apache-arrow.js'), "throw new Error('broken bundle');\n");
      const out = await nodeModule(`
        try { await import(${JSON.stringify(join(dir, 'part', 'arrow.js'))}); process.stdout.write('loaded'); }
        catch (e) { process.stdout.write('failed: ' + e.message); }
      `);
      expect(out).toBe('failed: broken bundle');
    });
  });
});
