import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FilePolicySource } from '../../../../src/policy/sources/file.js';
import type { SourceUpdate } from '../../../../src/policy/sources/source.js';

/** Resolves once `updates` holds `count` entries; real fs events, so poll briefly. */
async function until(updates: SourceUpdate[], count: number, timeoutMs = 1500): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (updates.length < count) {
    if (Date.now() > deadline) throw new Error(`expected ${count} updates, got ${JSON.stringify(updates)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('FilePolicySource', () => {
  let dir: string;
  let source: FilePolicySource | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'routecar-file-source-'));
  });
  afterEach(async () => {
    await source?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('delivers the file, then a change made by rename-on-save, and not an unchanged rewrite', async () => {
    const file = join(dir, 'policy.yaml');
    await writeFile(file, 'version: 1\n');
    const updates: SourceUpdate[] = [];
    source = new FilePolicySource(file, { debounceMs: 20 });
    source.start((u) => updates.push(u));
    await until(updates, 1);
    expect(updates[0]).toEqual({
      kind: 'document',
      text: 'version: 1\n',
      origin: { source: 'file', location: file },
    });

    // Same content written again: no update.
    await writeFile(file, 'version: 1\n');
    // An editor's save: write a temp file, rename it over the original.
    await writeFile(join(dir, '.policy.yaml.swp'), 'version: 1\n# edited\n');
    await rename(join(dir, '.policy.yaml.swp'), file);
    await until(updates, 2);
    expect(updates[1]).toMatchObject({ kind: 'document', text: 'version: 1\n# edited\n' });
    await new Promise((r) => setTimeout(r, 80));
    expect(updates).toHaveLength(2);
  });

  it('reports an unreadable file as unavailable, once', async () => {
    const file = join(dir, 'missing.yaml');
    const updates: SourceUpdate[] = [];
    source = new FilePolicySource(file, { debounceMs: 20 });
    source.start((u) => updates.push(u));
    await until(updates, 1);
    expect(updates[0]).toMatchObject({ kind: 'unavailable', origin: { source: 'file', location: file } });
    expect(updates[0]?.kind === 'unavailable' && updates[0].error).toContain('ENOENT');
    await writeFile(join(dir, 'unrelated.txt'), 'x');
    await new Promise((r) => setTimeout(r, 80));
    expect(updates).toHaveLength(1);
    await writeFile(file, 'version: 1\n');
    await until(updates, 2);
    expect(updates[1]).toMatchObject({ kind: 'document', text: 'version: 1\n' });
  });

  it('delivers nothing after stop', async () => {
    const file = join(dir, 'policy.yaml');
    await writeFile(file, 'a: 1\n');
    const updates: SourceUpdate[] = [];
    source = new FilePolicySource(file, { debounceMs: 20 });
    source.start((u) => updates.push(u));
    await until(updates, 1);
    await source.stop();
    await writeFile(file, 'a: 2\n');
    await new Promise((r) => setTimeout(r, 80));
    expect(updates).toHaveLength(1);
  });
});
