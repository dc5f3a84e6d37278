/**
 * Entry point of a compaction worker thread. It opens its own blob store from the URL (stores
 * are not shared between threads), runs the engine for each `compact` message, and answers with
 * the result or a serialized error. Blob operations are reported to the main thread, which owns
 * the metrics registry; engine log lines are forwarded to the request's logger there.
 */
import { setMaxListeners } from 'node:events';
import { parentPort, workerData } from 'node:worker_threads';
import { MeteredBlob } from '../blob/metered.js';
import type { Blob } from '../blob/blob.js';
import { PolledCancellation } from '../compact/cancel.js';
import { compact } from '../compact/compact.js';
import type { EngineJob, EngineLog } from '../compact/types.js';
import { CompactdError } from '../model/errors.js';
import { openServiceStore, ProgressBlob } from './store.js';
import { abortKind, abortReason, deserializeError, serializeError, type FromWorker, type ToWorker, type WorkerInit } from './worker-protocol.js';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;

function post(port: NonNullable<typeof parentPort>, msg: FromWorker): void {
  port.postMessage(msg);
}

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('worker-main must run in a worker thread');
  const init = workerData as WorkerInit;
  const threshold = LEVELS[init.logLevel as keyof typeof LEVELS] ?? LEVELS.info;

  let blob: Blob;
  try {
    const inner = await openServiceStore({
      url: init.blobUrl,
      retrySeconds: init.retrySeconds,
      faults: init.faults,
      faultSeedOffset: init.faultSeedOffset,
      onRetry: (event) => post(port, { type: 'retry', event }),
    });
    blob = new MeteredBlob(inner, {
      observe: (op, seconds, ok, bytes) => post(port, { type: 'blob', op, seconds, ok, bytes }),
    });
  } catch (err) {
    post(port, { type: 'fatal', error: serializeError(err) });
    return;
  }

  const running = new Map<number, PolledCancellation>();

  const logFor = (id: number): EngineLog => {
    const forward = (level: 'debug' | 'info' | 'warn', value: number) => (obj: object, msg: string) => {
      if (value >= threshold) post(port, { type: 'log', id, level, obj, msg });
    };
    return { debug: forward('debug', LEVELS.debug), info: forward('info', LEVELS.info), warn: forward('warn', LEVELS.warn) };
  };

  const run = async (id: number, msg: Extract<ToWorker, { type: 'compact' }>) => {
    // The engine's merge yields to this thread's event loop only between parts, so the 'abort'
    // message may sit unread for a part's worth of merging. The main thread also raises a shared
    // flag, and the engine's checkpoints poll it: cancellation lands at the next checkpoint
    // whether or not the loop turned. The message follows with the full reason.
    const flag = new Int32Array(msg.abortFlag);
    const cancel = new PolledCancellation(() => {
      const kind = abortKind(Atomics.load(flag, 0));
      return kind === undefined ? undefined : abortReason(kind);
    });
    // Every blob request of the compaction listens on this signal; dozens at once are normal.
    setMaxListeners(0, cancel.signal);
    running.set(id, cancel);
    try {
      const log = logFor(id);
      // Per-part progress lines cost a message each: only when someone reads debug lines.
      const jobBlob = threshold <= LEVELS.debug ? new ProgressBlob(blob, log.debug) : blob;
      let job: EngineJob | undefined;
      if (msg.job) {
        // Parts reported durable stay on failure: the main thread's job decides what its checkpoint keeps.
        const keep = new Set<string>();
        const shard = msg.req.shardId;
        job = {
          prefix: msg.job.prefix,
          resume: msg.job.resume,
          keep: msg.job.durable ? keep : undefined,
          onEvent: (event) => {
            if (event.type === 'part') keep.add(`${shard}/${event.part.key}`);
            post(port, { type: 'event', id, event });
          },
        };
      }
      const result = await compact(msg.req, { blob: jobBlob, config: msg.config, cancel, log, job });
      post(port, { type: 'done', id, result });
    } catch (err) {
      // When the main thread aborted the work, its reason (deadline, cancelled, shutdown) is the answer.
      const reason: unknown = cancel.signal.aborted ? cancel.signal.reason : undefined;
      const error = reason instanceof CompactdError ? reason : err;
      post(port, { type: 'failed', id, error: serializeError(error) });
    } finally {
      running.delete(id);
    }
  };

  port.on('message', (msg: ToWorker) => {
    switch (msg.type) {
      case 'compact':
        void run(msg.id, msg);
        break;
      case 'abort':
        running.get(msg.id)?.cancel(deserializeError(msg.reason));
        break;
      case 'close':
        port.close();
        void blob.close().catch(() => {});
        break;
    }
  });
  post(port, { type: 'ready' });
}

void main();
