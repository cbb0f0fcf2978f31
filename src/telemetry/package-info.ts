/**
 * Where routecar is installed and which version it is. Both come from the nearest package.json
 * above this module, found by walking up, because the module sits at a different depth in each
 * layout: `src/telemetry` under the tests, `dist/src/telemetry` after `tsc`, `dist/bundle` in the
 * shipped bundle.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let dir: string | undefined;
let version: string | undefined;

/** The directory of routecar's package.json (the checkout, or `/app` in the image). */
export function routecarPackageDir(): string {
  if (dir !== undefined) return dir;
  let at = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(at, 'package.json')) && dirname(at) !== at) at = dirname(at);
  return (dir = at);
}

/** The version in routecar's package.json, or `unknown` when it cannot be read. */
export function routecarVersion(): string {
  if (version !== undefined) return version;
  try {
    const text = readFileSync(join(routecarPackageDir(), 'package.json'), 'utf8');
    version = (JSON.parse(text) as { version?: string }).version ?? 'unknown';
  } catch {
    version = 'unknown';
  }
  return version;
}
