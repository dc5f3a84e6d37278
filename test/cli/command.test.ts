import { describe, expect, it } from 'vitest';
import { lines, readAll, write } from '../../src/cli/command.js';
import { CompactdError } from '../../src/model/errors.js';

async function* chunks(...parts: (string | number[])[]): AsyncGenerator<string | Uint8Array> {
  for (const p of parts) yield typeof p === 'string' ? p : new Uint8Array(p);
}

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('lines', () => {
  it('splits across chunk boundaries, strips CR, keeps a last line without newline', async () => {
    expect(await collect(lines(chunks('ab', 'c\r\nde', 'f\n\n', 'g')))).toEqual(['abc', 'def', '', 'g']);
    expect(await collect(lines(chunks('x\n')))).toEqual(['x']);
    expect(await collect(lines(chunks()))).toEqual([]);
  });

  it('decodes a UTF-8 character split between chunks', async () => {
    // "é" is C3 A9; "€" is E2 82 AC.
    expect(await collect(lines(chunks([0x61, 0xc3], [0xa9, 0x0a, 0xe2, 0x82], [0xac])))).toEqual(['aé', '€']);
    expect(await readAll(chunks([0xe2], [0x82, 0xac]))).toBe('€');
  });

  it('refuses input that is not UTF-8', async () => {
    const err = await collect(lines(chunks([0x61, 0xff, 0x0a]))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CompactdError);
    expect((err as CompactdError).kind).toBe('invalid');
    await expect(readAll(chunks([0xc3]))).rejects.toThrow('standard input is not valid UTF-8');
  });
});

describe('write', () => {
  it('waits for drain when the sink asks to', async () => {
    let drain: (() => void) | undefined;
    const written: string[] = [];
    const sink = { write: (s: string) => (written.push(s), false), once: (_e: 'drain', f: () => void) => (drain = f) };
    let done = false;
    const p = write(sink, 'x').then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(written).toEqual(['x']);
    expect(done).toBe(false);
    drain!();
    await p;
    expect(done).toBe(true);
  });
});
