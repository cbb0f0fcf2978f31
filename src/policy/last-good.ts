/**
 * The last good policy on disk, so a sidecar restarted while Consul is down still serves the
 * policy it had. Written atomically (temp file, fsync, rename): a crash mid-write leaves the
 * previous file intact, never a torn one.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import type { PolicyOrigin } from './sources/source.js';

/** File name inside the state directory. */
export const LAST_GOOD_FILE = 'last-good-policy.json';

/** What is persisted: enough to rebuild the same compiled policy without any source. */
export interface LastGoodPolicy {
  /** The policy document exactly as it was delivered (YAML or JSON text). */
  readonly text: string;
  /** Where the document came from originally. */
  readonly origin: PolicyOrigin;
  /** Split overrides that were in force (route -> raw JSON text of `routecar/splits/<route>`). */
  readonly splits: Readonly<Record<string, string>>;
  /** Version of the compiled policy, for display. */
  readonly version: string;
  /** When it was written (ISO 8601). */
  readonly savedAt: string;
}

/** What `loadLastGood` found; `file` is the path it looked at. */
export type LastGoodLoad =
  | { readonly kind: 'none'; readonly file: string }
  | { readonly kind: 'loaded'; readonly file: string; readonly record: LastGoodPolicy }
  | { readonly kind: 'corrupt'; readonly file: string; readonly error: string };

const recordSchema = z.object({
  format: z.literal(1),
  text: z.string(),
  origin: z.object({
    source: z.enum(['file', 'consul', 'state', 'embedded']),
    location: z.string(),
    modifyIndex: z.number().optional(),
  }),
  splits: z.record(z.string(), z.string()),
  version: z.string(),
  savedAt: z.string(),
});

/** Full path of the last good policy file in `stateDir`. */
export function lastGoodPath(stateDir: string): string {
  return join(stateDir, LAST_GOOD_FILE);
}

/** Reads the persisted policy. A missing file is `none`; an unreadable or malformed one is `corrupt`. */
export async function loadLastGood(stateDir: string): Promise<LastGoodLoad> {
  const file = lastGoodPath(stateDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return { kind: 'none', file };
    return { kind: 'corrupt', file, error: `cannot read ${file}: ${errorMessage(err)}` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { kind: 'corrupt', file, error: `${file} is not valid JSON: ${errorMessage(err)}` };
  }
  const parsed = recordSchema.safeParse(value);
  if (!parsed.success) {
    return {
      kind: 'corrupt',
      file,
      error: `${file} is not a routecar last-good policy: ${parsed.error.message}`,
    };
  }
  const { format: _format, origin, ...rest } = parsed.data;
  const cleanOrigin: PolicyOrigin =
    origin.modifyIndex === undefined
      ? { source: origin.source, location: origin.location }
      : { source: origin.source, location: origin.location, modifyIndex: origin.modifyIndex };
  return { kind: 'loaded', file, record: { ...rest, origin: cleanOrigin } };
}

/** Writes the record atomically, creating the directory if needed. */
export async function saveLastGood(stateDir: string, record: LastGoodPolicy): Promise<void> {
  await mkdir(stateDir, { recursive: true });
  const file = lastGoodPath(stateDir);
  const temp = `${file}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  const body = `${JSON.stringify({ format: 1, ...record }, null, 2)}\n`;
  try {
    const handle = await open(temp, 'w', 0o644);
    try {
      await handle.writeFile(body, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && 'code' in err && err.code === code;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
