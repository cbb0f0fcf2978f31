/**
 * `routecar policy replay NEW.yaml --log LOG.jsonl [--json]`: where the requests of an access
 * log would go under another policy (src/routing/replay.ts does the work).
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { replayLog, type BeforeAfter, type ReplaySummary } from '../routing/replay.js';
import { readPolicy } from './policy.js';

/** Runs the replay; exit 0, or 1 when the policy or the log cannot be read. */
export async function replay(file: string, logFile: string, json: boolean): Promise<number> {
  const read = await readPolicy(file);
  if (read === undefined) return 1;
  const lines: string[] = [];
  try {
    const input = createInterface({ input: createReadStream(logFile), crlfDelay: Infinity });
    for await (const line of input) lines.push(line);
  } catch (err) {
    console.error(`${logFile}: ${(err as Error).message}`);
    return 1;
  }
  const summary = replayLog(read.policy, lines);
  console.log(json ? JSON.stringify(summary) : formatSummary(summary, file, logFile));
  return 0;
}

function table(title: string, rows: Record<string, BeforeAfter>): string[] {
  const names = Object.keys(rows).sort();
  const width = Math.max(title.length, ...names.map((n) => n.length)) + 2;
  return [
    `${title.padEnd(width)}${'before'.padStart(8)}${'after'.padStart(8)}${'delta'.padStart(8)}`,
    ...names.map((n) => {
      const { before, after } = rows[n]!;
      const delta = after - before;
      return `${n.padEnd(width)}${String(before).padStart(8)}${String(after).padStart(8)}${(delta > 0 ? `+${delta}` : String(delta)).padStart(8)}`;
    }),
  ];
}

/** The human-readable report. */
export function formatSummary(s: ReplaySummary, file: string, logFile: string): string {
  return [
    `${s.requests} requests from ${logFile} re-decided under ${file}; ${s.changed} would go elsewhere.`,
    `Health: every backend assumed healthy (the log does not record health). Prompt text is not logged: prompt-text rules see none.`,
    ...(s.skipped > 0 ? [`${s.skipped} lines were not request lines and were skipped.`] : []),
    '',
    ...table('backend', s.backends),
    '',
    ...table('variant', s.variants),
    '',
    ...table('rule', s.rules),
  ].join('\n');
}
