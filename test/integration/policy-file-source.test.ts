/**
 * The file policy source against the real filesystem: editors' rename-over-save, ConfigMap
 * symlink swaps and a noisy directory, through real fs.watch events. Real time, with bounds far
 * above the 500 ms reload bound (its debounce logic has fake-timer unit tests: debounce.test.ts).
 */
import { appendFile, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FilePolicySource } from '../../src/policy/sources/file.js';
import type { SourceUpdate } from '../../src/policy/sources/source.js';

/**
 * How long a reload may take in these tests: the source promises 500 ms at most after the change;
 * the rest is margin for a loaded 2-core machine (fs events and timers can be late there).
 */
const RELOAD_BOUND_MS = 500 + 1500;

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

  it('reloads within the bound while another file in the directory is written every 20 ms', async () => {
    const file = join(dir, 'policy.yaml');
    await writeFile(file, 'version: 1\n');
    const updates: SourceUpdate[] = [];
    source = new FilePolicySource(file);
    source.start((u) => updates.push(u));
    await until(updates, 1);
    // A log next to the policy, written all the time.
    const writer = setInterval(() => void appendFile(join(dir, 'routecar.log'), 'a line\n'), 20);
    try {
      await new Promise((r) => setTimeout(r, 200));
      const edited = performance.now();
      await writeFile(file, 'version: 1\n# edited\n');
      await until(updates, 2, RELOAD_BOUND_MS);
      expect(performance.now() - edited).toBeLessThan(RELOAD_BOUND_MS);
      expect(updates[1]).toMatchObject({ kind: 'document', text: 'version: 1\n# edited\n' });
    } finally {
      clearInterval(writer);
    }
  });

  it('reloads within the bound while the policy file itself is replaced every 20 ms', async () => {
    const file = join(dir, 'policy.yaml');
    const staging = await mkdtemp(join(tmpdir(), 'routecar-file-staging-'));
    await writeFile(file, 'version: 1\n');
    const updates: SourceUpdate[] = [];
    // A quiet time close to the cap: the cap, not a lucky pause in the writes, bounds the reload.
    source = new FilePolicySource(file, { debounceMs: 400, maxWaitMs: 500 });
    source.start((u) => updates.push(u));
    await until(updates, 1);
    // Something keeps saving the policy (same content, atomically) without pause.
    let content = 'version: 1\n';
    let n = 0;
    const save = async () => {
      const tmp = join(staging, `save-${n++}`);
      await writeFile(tmp, content);
      await rename(tmp, file);
    };
    const writer = setInterval(() => void save(), 20);
    try {
      await new Promise((r) => setTimeout(r, 200));
      const edited = performance.now();
      content = 'version: 1\n# edited\n';
      await save();
      await until(updates, 2, RELOAD_BOUND_MS);
      expect(performance.now() - edited).toBeLessThan(RELOAD_BOUND_MS);
      expect(updates[1]).toMatchObject({ kind: 'document', text: 'version: 1\n# edited\n' });
    } finally {
      clearInterval(writer);
      await rm(staging, { recursive: true, force: true });
    }
  });

  it('follows a Kubernetes ConfigMap update: the ..data symlink swapped, the policy link untouched', async () => {
    // The kubelet's layout: policy.yaml -> ..data/policy.yaml, ..data -> ..<timestamp>/.
    await mkdir(join(dir, '..2025_01_01_00_00_00.1'));
    await writeFile(join(dir, '..2025_01_01_00_00_00.1', 'policy.yaml'), 'version: 1\n');
    await symlink('..2025_01_01_00_00_00.1', join(dir, '..data'));
    await symlink(join('..data', 'policy.yaml'), join(dir, 'policy.yaml'));
    const file = join(dir, 'policy.yaml');
    const updates: SourceUpdate[] = [];
    source = new FilePolicySource(file);
    source.start((u) => updates.push(u));
    await until(updates, 1);
    expect(updates[0]).toMatchObject({ kind: 'document', text: 'version: 1\n' });

    // An update: a new timestamped directory, a temporary link to it renamed over ..data.
    await mkdir(join(dir, '..2025_01_01_00_01_00.2'));
    await writeFile(join(dir, '..2025_01_01_00_01_00.2', 'policy.yaml'), 'version: 1\n# v2\n');
    await symlink('..2025_01_01_00_01_00.2', join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    await rm(join(dir, '..2025_01_01_00_00_00.1'), { recursive: true });
    await until(updates, 2, RELOAD_BOUND_MS);
    expect(updates[1]).toMatchObject({ kind: 'document', text: 'version: 1\n# v2\n' });
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
