/**
 * The engine as the service and the CLI call it: a request is validated (model/validate.ts) and
 * then compacted. A request the validation refuses rejects the promise, as the service answers.
 */
import { compact } from '../../src/compact/compact.js';
import type { CompactDeps, CompactResult } from '../../src/compact/types.js';
import type { CompactRequest } from '../../src/model/batch.js';
import { validateCompactRequest, type RequestLimits } from '../../src/model/validate.js';

/** Validates `req` (default limits unless given) and compacts it. */
export async function validateAndCompact(req: CompactRequest, deps: CompactDeps, limits?: RequestLimits): Promise<CompactResult> {
  return compact(validateCompactRequest(req, limits), deps);
}
