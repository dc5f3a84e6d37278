/**
 * The Admin service: read and change the runtime configuration (enable/disable, queue size,
 * concurrency, heuristics, timeout, memory bound, target part size) without a restart. Updates
 * are checked by the same rules as the command line and apply to the next admission decision;
 * a raised concurrency limit starts waiting requests at once.
 */
import type { AdminHandlers } from '../gen/compactd/v1/Admin.js';
import { applyConfigUpdate, warnAboutMemoryBound, type RuntimeConfig } from '../config/options.js';
import { CompactdError } from '../model/errors.js';
import type { Logger } from '../obs/log.js';
import { serviceConfigToProto, updateConfigRequestFromProto } from '../wire/convert.js';
import { toServiceError } from './status.js';

/** Holds the live runtime configuration and tells its users when it changed. */
export class LiveConfig {
  private current: RuntimeConfig;

  constructor(
    initial: RuntimeConfig,
    private readonly onChange: (next: RuntimeConfig, previous: RuntimeConfig) => void = () => {},
  ) {
    this.current = initial;
  }

  get(): RuntimeConfig {
    return this.current;
  }

  /** Validates and applies a partial update (nothing is applied when a field is bad); returns the new config. */
  update(patch: Partial<RuntimeConfig>): RuntimeConfig {
    const previous = this.current;
    this.current = applyConfigUpdate(previous, patch);
    this.onChange(this.current, previous);
    return this.current;
  }
}

/** The fields whose values differ, as `{field: [old, new]}`, for the log. */
export function configChanges(previous: RuntimeConfig, next: RuntimeConfig): Record<string, [unknown, unknown]> {
  const out: Record<string, [unknown, unknown]> = {};
  for (const key of Object.keys(next) as (keyof RuntimeConfig)[]) {
    if (previous[key] !== next[key]) out[key] = [previous[key], next[key]];
  }
  return out;
}

/** Builds the Admin service implementation over `config`. */
export function adminHandlers(config: LiveConfig, log: Logger): AdminHandlers {
  return {
    GetConfig: (_call, callback) => callback(null, serviceConfigToProto(config.get())),
    UpdateConfig: (call, callback) => {
      try {
        const previous = config.get();
        const next = config.update(updateConfigRequestFromProto(call.request));
        log.info({ changes: configChanges(previous, next) }, 'config updated');
        // Counted as before (memory violations), but said at once: the next request would split.
        warnAboutMemoryBound(log, next);
        callback(null, serviceConfigToProto(next));
      } catch (err) {
        const e = CompactdError.from(err);
        log.warn({ kind: e.kind, error: e.message }, 'config update refused');
        callback(toServiceError(e));
      }
    },
  };
}
