/**
 * The bin's Node version check, as a table, and the places that state the same requirement:
 * package.json `engines`, `.nvmrc` and `.node-version` (what nvm, fnm, volta and asdf read), and
 * `.npmrc` making npm refuse to install on an older Node.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIN_NODE_VERSION, nodeVersionProblem } from '../../../src/cli/node-version.js';
import { REPO_ROOT } from '../../support/processes.js';

const read = (file: string): string => readFileSync(join(REPO_ROOT, file), 'utf8');

describe('nodeVersionProblem', () => {
  it.each([
    ['22.15.0', true],
    ['22.15.1', true],
    ['22.20.0', true],
    ['23.0.0', true],
    ['24.22.3', true],
    ['30.1.0', true],
    ['22.14.9', false],
    ['22.0.0', false],
    ['20.20.2', false],
    ['18.20.4', false],
    ['', false],
    ['garbage', false],
  ])('Node %s: runs %s', (version, runs) => {
    const problem = nodeVersionProblem(version, '/usr/bin/node');
    if (runs) expect(problem).toBeUndefined();
    else
      expect(problem).toBe(
        `routecar needs Node.js 22.15 or newer; this is Node.js ${version} (/usr/bin/node). Install Node.js 24 LTS (see .nvmrc).`,
      );
  });
});

describe('the Node requirement, stated once per tool', () => {
  const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };

  it("is package.json's engines.node", () => {
    expect(pkg.engines.node).toBe(`>=${MIN_NODE_VERSION}`);
  });

  it('.nvmrc and .node-version name the same, supported major', () => {
    const nvmrc = read('.nvmrc').trim();
    expect(nvmrc).toBe(read('.node-version').trim());
    expect(nodeVersionProblem(`${nvmrc}.0.0`, 'node')).toBeUndefined();
  });

  it('.npmrc makes npm refuse an unsupported Node (engine-strict)', () => {
    expect(
      read('.npmrc')
        .split('\n')
        .map((l) => l.trim()),
    ).toContain('engine-strict=true');
  });

  it('the bin loads nothing before the check: its only static import is the check', () => {
    const imports = [...read('src/cli/main.ts').matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
    expect(imports).toEqual(['./node-version.js']);
    expect(read('src/cli/node-version.ts')).not.toMatch(/^import /m);
  });
});
