/**
 * --max-connection-age-seconds: the server asks clients to reconnect (GOAWAY) once a connection
 * is that old, which is how round-robin clients of a scaled-out service pick up new replicas.
 * Without it a healthy connection stays up.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client, connectivityState, credentials } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer } from './harness.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-age-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function stateAfter(flags: string[], waitMs: number): Promise<connectivityState> {
  const t = await startTestServer(pathToFileURL(dir).href, ['--workers', '1', ...flags]);
  const client = new Client(t.server.address, credentials.createInsecure());
  try {
    await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve())));
    expect(client.getChannel().getConnectivityState(false)).toBe(connectivityState.READY);
    await new Promise((r) => setTimeout(r, waitMs));
    return client.getChannel().getConnectivityState(false);
  } finally {
    client.close();
    await t.server.shutdown();
  }
}

describe('connection age', () => {
  it('closes connections older than --max-connection-age-seconds', async () => {
    expect(await stateAfter(['--max-connection-age-seconds', '0.3'], 1500)).not.toBe(connectivityState.READY);
  });

  it('keeps connections open by default', async () => {
    expect(await stateAfter([], 1500)).toBe(connectivityState.READY);
  });
});
