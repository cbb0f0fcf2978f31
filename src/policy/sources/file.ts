/**
 * Policy from a local file, watched for changes. Watches the directory rather than the file:
 * editors save by writing a new file and renaming it over the old one, and Kubernetes updates a
 * mounted ConfigMap by swapping a `..data` symlink, and both leave a watch on the file itself
 * pointing at a file that is gone.
 *
 * Only events that can mean the policy changed count; the others (a log file written next to the
 * policy, an editor's swap file) are ignored, so they can neither postpone a reload nor cost a
 * read. The events that count are those on:
 * - the policy's own name: an edit in place, or a new file renamed over it (editor save);
 * - when the policy is a symlink to a path inside its directory, the first step of that path: a
 *   ConfigMap mounts `policy.yaml -> ..data/policy.yaml` and is updated by renaming a new
 *   `..data` symlink over the old one, which touches `..data` and never `policy.yaml`. The link is
 *   read again after every read, so it may change.
 * An event without a file name (platforms that do not report one) counts.
 * A symlink to another directory is followed when read, but changes made there are not seen;
 * only a change of the link itself is.
 *
 * Reads wait for a quiet moment (`debounceMs`) so a save in several writes is read once, but
 * never more than `maxWaitMs` after the first event, so a file that is written without pause is
 * still reloaded.
 */
import { readlinkSync, watch, type FSWatcher } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { Debouncer } from './debounce.js';
import type { PolicyOrigin, PolicySource, SourceUpdate } from './source.js';

/** Options of `FilePolicySource`. */
export interface FilePolicySourceOptions {
  /** Quiet time after the last change event before the file is re-read. Default 100 ms. */
  readonly debounceMs?: number;
  /** Longest wait after the first change event, even if events keep coming. Default 500 ms. */
  readonly maxWaitMs?: number;
}

/** Delivers the file's text on start and after every change of content; see the file comment. */
export class FilePolicySource implements PolicySource {
  readonly #path: string;
  readonly #dir: string;
  readonly #origin: PolicyOrigin;
  readonly #debouncer: Debouncer;
  /** Names in the directory whose events count; see the file comment. */
  #names: ReadonlySet<string>;
  #watcher: FSWatcher | undefined;
  #onUpdate: ((update: SourceUpdate) => void) | undefined;
  /** Text last delivered; the same content is not delivered twice. */
  #lastText: string | undefined;
  /** Error last delivered; a file that stays unreadable is reported once, not on every event. */
  #lastError: string | undefined;
  /** Reads run one at a time, so an older read never delivers after a newer one. */
  #reading: Promise<void> = Promise.resolve();

  constructor(path: string, options: FilePolicySourceOptions = {}) {
    this.#path = resolve(path);
    this.#dir = dirname(this.#path);
    this.#origin = { source: 'file', location: this.#path };
    this.#debouncer = new Debouncer(() => this.#read(), {
      quietMs: options.debounceMs ?? 100,
      maxWaitMs: options.maxWaitMs ?? 500,
    });
    this.#names = new Set([basename(this.#path)]);
  }

  start(onUpdate: (update: SourceUpdate) => void): void {
    if (this.#onUpdate !== undefined) throw new Error('FilePolicySource already started');
    this.#onUpdate = onUpdate;
    this.#names = this.#namesFor(readLinkSync(this.#path));
    try {
      // Watching before the first read: a change made meanwhile is then read again, not missed.
      this.#watcher = watch(this.#dir, { persistent: false }, (_event, name) => {
        if (name === null || this.#names.has(name)) this.#schedule();
      });
      this.#watcher.on('error', (err) => this.#deliverError(`watching ${this.#dir} failed: ${err.message}`));
    } catch (err) {
      this.#deliverError(`cannot watch ${this.#dir}: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.#read();
  }

  async stop(): Promise<void> {
    this.#onUpdate = undefined;
    this.#debouncer.cancel();
    this.#watcher?.close();
    this.#watcher = undefined;
    await this.#reading;
  }

  #schedule(): void {
    if (this.#onUpdate !== undefined) this.#debouncer.poke();
  }

  /** The policy's own name, and the first step of its symlink target when that is in the directory. */
  #namesFor(target: string | undefined): ReadonlySet<string> {
    const names = new Set([basename(this.#path)]);
    if (target === undefined) return names;
    const inside = relative(this.#dir, resolve(this.#dir, target));
    const first = inside.split(sep)[0];
    if (first !== undefined && first !== '' && first !== '..' && !isAbsolute(inside)) names.add(first);
    return names;
  }

  #read(): void {
    this.#reading = this.#reading.then(async () => {
      this.#names = this.#namesFor(await readlink(this.#path).catch(() => undefined));
      let text: string;
      try {
        // Decoded leniently on purpose: binary content reaches the store and is refused there with a reason.
        text = (await readFile(this.#path)).toString('utf8');
      } catch (err) {
        this.#deliverError(`cannot read ${this.#path}: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
      this.#lastError = undefined;
      if (text === this.#lastText) return;
      this.#lastText = text;
      this.#onUpdate?.({ kind: 'document', text, origin: this.#origin });
    });
  }

  #deliverError(error: string): void {
    if (error === this.#lastError) return;
    this.#lastError = error;
    this.#onUpdate?.({ kind: 'unavailable', error, origin: this.#origin });
  }
}

/** The target of `path` when it is a symlink; undefined otherwise (or when it cannot be read). */
function readLinkSync(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}
