/**
 * The AWS SDK prints a nine-line Node.js version notice on stderr the first time it creates a
 * client; `compactd` sets the variable that silences it, so a command on s3:// shows only its
 * own output. Run as a child process with the variable removed from its environment.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChild } from '../helpers/cli.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';

let s3: S3rverHandle;

beforeAll(async () => {
  s3 = await startS3rver({ prefix: 'notice' });
});

afterAll(() => s3?.stop());

describe('commands on s3://', { timeout: 120_000 }, () => {
  it('print no AWS SDK notice, even when the variable is not set', async () => {
    const env = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined };
    const w = await runChild(
      ['write-batch', '--blob', s3.url, '--shard', 'n1', '--lower', '[["0"]]', '--upper', '[["10"]]'],
      '{"k":"YQ==","v":"","t":["1"],"d":"1"}\n',
      { env },
    );
    expect(w.stderr).toBe('');
    expect(w.code).toBe(0);
    const r = await runChild(['read-batch', '--blob', s3.url, '--shard', 'n1'], w.stdout, { env });
    expect(r).toEqual({ code: 0, stdout: '{"k":"YQ==","v":"","t":["1"],"d":"1"}\n', stderr: '' });
  });
});
