/**
 * The decision benchmarks drive the built registry and decide directly (bench/lib/warm-health.js),
 * outside the request path the rest of the suite covers: a change to those interfaces must not
 * leave `npm run bench` to fail at its end. Each script runs here once, on a few iterations.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/processes.js';

const run = promisify(execFile);

describe('decision benchmark scripts, on the build', () => {
  it('bench/decision.js decides over 20 warmed backends', async () => {
    const { stdout } = await run(
      process.execPath,
      [join(REPO_ROOT, 'bench/decision.js'), '--iterations', '2000', '--batches', '1'],
      { cwd: REPO_ROOT },
    );
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { backends: number; medianUs: number };
    expect(result.backends).toBe(20);
    expect(result.medianUs).toBeGreaterThan(0);
  }, 60_000);
});
