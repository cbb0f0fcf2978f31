/**
 * Programs some tests need beyond Node (a real Prometheus, promtool; later Consul). `npm test` on
 * a machine without them skips those tests and says why, at the start of the run (external-setup.ts)
 * and where they are collected; with ROUTECAR_REQUIRE_EXTERNAL=1 (set by .ci/run, which installs
 * them) a missing program fails the run instead, so CI never passes by skipping.
 *
 * No test-runner import here: the global setup (external-setup.ts) uses these lookups too; the
 * `describe`/`it` helpers are in external.ts.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** What one external program is for and how to get it. */
export interface ExternalTool {
  /** Command looked up on PATH. */
  readonly command: string;
  /** The tests that need it, for the start-of-run summary. */
  readonly usedBy: string;
  /** How to install it. */
  readonly install: string;
}

export const EXTERNAL_TOOLS = {
  prometheus: {
    command: 'prometheus',
    usedBy:
      'test/e2e/telemetry-prometheus.test.ts (a real Prometheus scrapes routecar and runs the dashboard queries), ' +
      'test/e2e/canary-controller.test.ts (the canary controller reads two sidecars through it), ' +
      'test/e2e/tenant-budgets.test.ts (two sidecars share a tenant budget through it)',
    install: 'apt-get install prometheus (Debian/Ubuntu), or put a Prometheus 2.x/3.x binary on PATH',
  },
  promtool: {
    command: 'promtool',
    usedBy:
      'test/e2e/telemetry-prometheus.test.ts (promtool check metrics on /metrics; check and test of the alert rules)',
    install: 'apt-get install prometheus (it ships promtool)',
  },
} as const satisfies Record<string, ExternalTool>;

export type ExternalToolName = keyof typeof EXTERNAL_TOOLS;

/** The variable that turns a skip for a missing program into a failure. */
export const REQUIRE_EXTERNAL_VAR = 'ROUTECAR_REQUIRE_EXTERNAL';

/** True when missing programs must fail the run rather than skip their tests. */
export function externalRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env[REQUIRE_EXTERNAL_VAR]?.trim().toLowerCase();
  return v === '1' || v === 'true' || v === 'yes';
}

/** Absolute path of `command` on `PATH` (an executable file), or undefined. */
export function findOnPath(command: string, path: string = process.env['PATH'] ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, command);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Why tests needing `tools` cannot run here, or undefined when every one is on PATH. */
export function missingReason(tools: readonly ExternalToolName[]): string | undefined {
  const missing = tools.filter((t) => findOnPath(EXTERNAL_TOOLS[t].command) === undefined);
  if (missing.length === 0) return undefined;
  return `needs ${missing.map((t) => `\`${EXTERNAL_TOOLS[t].command}\``).join(' and ')} on PATH (${missing
    .map((t) => EXTERNAL_TOOLS[t].install)
    .filter((v, i, all) => all.indexOf(v) === i)
    .join('; ')})`;
}
