/**
 * Policy from a local file, watched for changes. Watches the directory rather than the file:
 * editors save by writing a new file and renaming it over the old one, and Kubernetes updates a
 * mounted ConfigMap by swapping a `..data` symlink, and both leave a watch on the file itself
 * pointing at a file that is gone.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { PolicyOrigin, PolicySource, SourceUpdate } from './source.js';

/** Options of `FilePolicySource`. */
export interface FilePolicySourceOptions {
  /** Quiet time after the last change event before the file is re-read. Default 100 ms. */
  readonly debounceMs?: number;
}

/** Delivers the file's text on start and after every change of content; see the file comment. */
export class FilePolicySource implements PolicySource {
  readonly #path: string;
  readonly #origin: PolicyOrigin;
  readonly #debounceMs: number;
  #watcher: FSWatcher | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #onUpdate: ((update: SourceUpdate) => void) | undefined;
  /** Text last delivered; the same content is not delivered twice. */
  #lastText: string | undefined;
  /** Error last delivered; a file that stays unreadable is reported once, not on every event. */
  #lastError: string | undefined;
  /** Reads run one at a time, so an older read never delivers after a newer one. */
  #reading: Promise<void> = Promise.resolve();

  constructor(path: string, options: FilePolicySourceOptions = {}) {
    this.#path = resolve(path);
    this.#origin = { source: 'file', location: this.#path };
    this.#debounceMs = options.debounceMs ?? 100;
  }

  start(onUpdate: (update: SourceUpdate) => void): void {
    if (this.#onUpdate !== undefined) throw new Error('FilePolicySource already started');
    this.#onUpdate = onUpdate;
    this.#read();
    try {
      // Any event in the directory triggers a re-read: the content comparison filters the noise.
      this.#watcher = watch(dirname(this.#path), { persistent: false }, () => this.#schedule());
      this.#watcher.on('error', (err) =>
        this.#deliverError(`watching ${dirname(this.#path)} failed: ${err.message}`),
      );
    } catch (err) {
      this.#deliverError(
        `cannot watch ${dirname(this.#path)}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  async stop(): Promise<void> {
    this.#onUpdate = undefined;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
    await this.#reading;
  }

  #schedule(): void {
    if (this.#onUpdate === undefined) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#read();
    }, this.#debounceMs);
  }

  #read(): void {
    this.#reading = this.#reading.then(async () => {
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
