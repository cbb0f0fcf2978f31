#!/usr/bin/env -S node --max-semi-space-size=4 --heap-growing-percent=60 --no-allocation-site-pretenuring
/**
 * The `routecar` bin. It checks the Node version first and only then loads the commands (a
 * dynamic import): on an older Node they would fail on a missing API or newer syntax, with an
 * error that does not say what is wrong.
 */
import { nodeVersionProblem } from './node-version.js';

/** The commands as shipped: `run.js` and what it loads, bundled by `npm run build` (rolldown.config.js). */
const COMMANDS_BUNDLE = new URL('../../bundle/run.js', import.meta.url).href;

const problem = nodeVersionProblem(process.versions.node, process.execPath);
if (problem === undefined) {
  const { main } = (await import(COMMANDS_BUNDLE)) as typeof import('./run.js');
  process.exitCode = await main(process.argv.slice(2));
} else {
  console.error(problem);
  process.exitCode = 1;
}
