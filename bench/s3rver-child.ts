/**
 * Runs s3rver (the tests' local S3, test/helpers/s3rver.ts) in its own process for the service
 * section, so the store's CPU work does not share the event loop of the server and client being
 * measured. Prints `{"url": ...}` as one line once listening; stops and removes its directory
 * when stdin closes or on SIGTERM.
 */
import { startS3rver } from '../test/helpers/s3rver.js';

const handle = await startS3rver({ bucket: 'bench' });
let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  handle.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.stdout.write(`${JSON.stringify({ url: handle.url })}\n`);
