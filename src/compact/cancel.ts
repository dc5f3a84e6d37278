/**
 * How a caller stops a compaction. The engine consults `check()` at its checkpoints (between
 * merge steps, before each upload) and passes `signal` to every blob request, so work in flight
 * stops too. A caller whose cancellation arrives some other way than an AbortSignal (the service's
 * worker threads read a flag in shared memory) implements `check()` itself; nothing patches the
 * signal.
 */
import { CompactdError } from '../model/errors.js';

export interface Cancellation {
  /** Aborted once the compaction is cancelled; its reason is the CompactdError to answer with. */
  readonly signal: AbortSignal;
  /** Throws the cancellation reason once cancelled, else returns. Called once per merge step: keep it cheap. */
  check(): void;
}

/** A Cancellation that follows `signal` (the CLI, tests, anything holding an AbortSignal). */
export function cancellationOf(signal: AbortSignal): Cancellation {
  return { signal, check: () => signal.throwIfAborted() };
}

/**
 * A Cancellation fed by a poll as well as by `cancel()`: `check()` asks `poll` for a reason first,
 * so a stop that another thread recorded lands at the next checkpoint even while this thread's
 * event loop has not turned to deliver the message that says so.
 */
export class PolledCancellation implements Cancellation {
  private readonly controller = new AbortController();

  constructor(private readonly poll: () => CompactdError | undefined) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Cancels with `reason` unless already cancelled. */
  cancel(reason: CompactdError): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  check(): void {
    if (!this.controller.signal.aborted) {
      const reason = this.poll();
      if (reason !== undefined) this.cancel(reason);
    }
    this.controller.signal.throwIfAborted();
  }
}
