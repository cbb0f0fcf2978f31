/**
 * The command tables the parser and the help are built from: every variable routecar reads is
 * named in `start --help`, and every command has a usage line that starts with its own name.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandHelp } from '../../../src/cli/args.js';
import { COMMANDS, START } from '../../../src/cli/commands.js';
import { REPO_ROOT } from '../../support/processes.js';

/** ROUTECAR_* and CONSUL_* variables read anywhere in src (`env.NAME`, `env['NAME']`, `(env, 'NAME'`). */
function variablesRead(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        const text = readFileSync(path, 'utf8');
        for (const m of text.matchAll(
          /\benv(?:\.|\[')((?:ROUTECAR|CONSUL)_[A-Z0-9_]+)|\(env, '((?:ROUTECAR|CONSUL)_[A-Z0-9_]+)'/g,
        ))
          names.add((m[1] ?? m[2])!);
      }
    }
  };
  walk(join(REPO_ROOT, 'src'));
  return names;
}

describe('the command tables', () => {
  it('name every environment variable routecar reads in `start --help`', () => {
    const help = commandHelp(START);
    const read = variablesRead();
    expect(read.size).toBeGreaterThan(10);
    for (const name of read) expect(help, name).toContain(name);
  });

  it('give every command a usage line that starts with its name', () => {
    for (const spec of COMMANDS) expect(spec.usage.startsWith(spec.name)).toBe(true);
  });
});
