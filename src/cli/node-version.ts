/**
 * The Node.js version check the bin runs before it loads anything else. Kept free of imports and
 * of recent syntax, so that it runs, and says what is wrong, on the old Node it refuses.
 */

/** The oldest Node.js routecar runs on; package.json `engines.node` says the same (`>=22.15`). */
export const MIN_NODE_VERSION = '22.15';

/** Why routecar cannot run on Node `version` (`process.versions.node`), or undefined when it can. */
export function nodeVersionProblem(version: string, execPath: string): string | undefined {
  const [major = NaN, minor = NaN] = version.split('.').map(Number);
  const [minMajor = 0, minMinor = 0] = MIN_NODE_VERSION.split('.').map(Number);
  if (major > minMajor || (major === minMajor && minor >= minMinor)) return undefined;
  return (
    `routecar needs Node.js ${MIN_NODE_VERSION} or newer; this is Node.js ${version} (${execPath}). ` +
    'Install Node.js 24 LTS (see .nvmrc).'
  );
}
