/**
 * Vitest global setup: says at the start of the run which external programs the tests use and
 * which are missing. Their tests are then skipped, each with its reason, or, with
 * ROUTECAR_REQUIRE_EXTERNAL=1, fail (external.ts): failing tests rather than an aborted run, so
 * the report counts them.
 */
import {
  EXTERNAL_TOOLS,
  externalRequired,
  findOnPath,
  REQUIRE_EXTERNAL_VAR,
  type ExternalToolName,
} from './external-tools.js';

export default function setup(): void {
  const tools = Object.keys(EXTERNAL_TOOLS) as ExternalToolName[];
  const found = new Map(tools.map((t) => [t, findOnPath(EXTERNAL_TOOLS[t].command)]));
  const missing = tools.filter((t) => found.get(t) === undefined);
  const lines = tools.map((t) => {
    const tool = EXTERNAL_TOOLS[t];
    const where = found.get(t) ?? 'MISSING';
    return `  ${tool.command.padEnd(11)} ${where}\n${' '.repeat(14)}for ${tool.usedBy}${
      found.get(t) ? '' : `\n${' '.repeat(14)}install: ${tool.install}`
    }`;
  });
  const required = externalRequired();
  const verdict =
    missing.length === 0
      ? 'all found.'
      : required
        ? `missing: ${missing.join(', ')}; with ${REQUIRE_EXTERNAL_VAR}=1 their tests FAIL.`
        : `missing: ${missing.join(', ')}; their tests are skipped (set ${REQUIRE_EXTERNAL_VAR}=1 to fail instead).`;
  console.log(`External programs used by the tests:\n${lines.join('\n')}\n  → ${verdict}\n`);
}
