/**
 * One abort signal per request, fed by every reason a compaction must stop: the client cancelled,
 * the client's deadline passed, the compaction's own timeout fired, or the server is shutting
 * down. The first reason wins and is kept as a CompactdError, so the answer and the metrics say
 * why the work stopped (DEADLINE_EXCEEDED, CANCELLED or UNAVAILABLE), not merely that it did.
 */
import { CompactdError } from '../model/errors.js';

/** setTimeout's largest delay; longer timers fire at once in Node, so they are clamped. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class RequestAbort {
  private readonly controller = new AbortController();
  private readonly timers = new Set<NodeJS.Timeout>();

  /** Aborted once any reason fired; its `reason` is that CompactdError. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The reason the request was aborted, or undefined while it was not. */
  get reason(): CompactdError | undefined {
    return this.controller.signal.aborted ? (this.controller.signal.reason as CompactdError) : undefined;
  }

  /** Aborts with `err` unless an earlier reason already did. */
  abort(err: CompactdError): void {
    if (!this.controller.signal.aborted) this.controller.abort(err);
    this.dispose();
  }

  /**
   * Aborts with `err()` after `ms` milliseconds unless aborted or disposed before. Returns a
   * function that cancels this one timer.
   */
  after(ms: number, err: () => CompactdError): () => void {
    if (this.controller.signal.aborted) return () => {};
    const timer = setTimeout(() => this.abort(err()), Math.max(0, Math.min(ms, MAX_TIMER_MS)));
    timer.unref();
    this.timers.add(timer);
    return () => {
      clearTimeout(timer);
      this.timers.delete(timer);
    };
  }

  /** Clears every pending timer; the signal keeps its state. */
  dispose(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

/** The part of a server call (unary or streaming) that says whether and when its client gives up. */
export interface ClientCall {
  on(event: 'cancelled', listener: () => void): unknown;
  readonly cancelled: boolean;
  getDeadline(): Date | number;
}

/** Feeds the client's cancellation and deadline into a request's abort handle. */
export function watchClient(call: ClientCall, abort: RequestAbort): void {
  const cancelled = () => abort.abort(new CompactdError('cancelled', 'the client cancelled the request'));
  call.on('cancelled', cancelled);
  // A client that left before the handler got here will not emit 'cancelled' again.
  if (call.cancelled) cancelled();
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  if (Number.isFinite(at)) abort.after(at - Date.now(), () => new CompactdError('deadline', 'the client deadline passed'));
}
