/** Assertions on failures. */
import { expect } from 'vitest';
import { CompactdError } from '../../src/model/errors.js';

/** The CompactdError `p` rejects with (the test fails if it resolves or rejects with something else). */
export async function failure(p: Promise<unknown>): Promise<CompactdError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CompactdError);
  return err as CompactdError;
}
