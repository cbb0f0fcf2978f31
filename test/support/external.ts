/**
 * `describe` and `it` for tests that need an external program (external-tools.ts lists them): run
 * when it is on PATH; otherwise skipped with the reason, or failing under ROUTECAR_REQUIRE_EXTERNAL=1.
 */
import { describe, it, type TestContext } from 'vitest';
import {
  externalRequired,
  missingReason,
  REQUIRE_EXTERNAL_VAR,
  type ExternalToolName,
} from './external-tools.js';

export * from './external-tools.js';

function requiredMessage(name: string, reason: string): string {
  return `"${name}" ${reason}; ${REQUIRE_EXTERNAL_VAR}=1 forbids skipping it`;
}

/**
 * `describe(name, fn)` when every program in `tools` is on PATH. Otherwise the suite is one test
 * skipped with the reason (and one line on the console), or, under ROUTECAR_REQUIRE_EXTERNAL=1,
 * replaced by one failing test that gives the reason. Suite hooks belong inside `fn`, so nothing
 * starts for a skipped suite.
 */
export function describeWith(tools: readonly ExternalToolName[], name: string, fn: () => void): void {
  const reason = missingReason(tools);
  if (reason === undefined) {
    describe(name, fn);
  } else if (externalRequired()) {
    describe(name, () => {
      it('has the external programs it needs', () => {
        throw new Error(requiredMessage(name, reason));
      });
    });
  } else {
    // One test that says why, in place of the suite: nothing of `fn` (no hook) runs.
    console.warn(`skipped: "${name}" ${reason}`);
    describe(name, () => {
      it('has the external programs it needs', (context) => context.skip(reason));
    });
  }
}

/** `it(name, fn)` when every program in `tools` is on PATH; otherwise skipped or failing, as `describeWith`. */
export function itWith(
  tools: readonly ExternalToolName[],
  name: string,
  fn: (context: TestContext) => Promise<void> | void,
  timeoutMs?: number,
): void {
  const reason = missingReason(tools);
  if (reason === undefined) {
    it(name, fn, timeoutMs);
  } else if (externalRequired()) {
    it(name, () => {
      throw new Error(requiredMessage(name, reason));
    });
  } else {
    console.warn(`skipped: "${name}" ${reason}`);
    it(name, (context) => context.skip(reason));
  }
}
