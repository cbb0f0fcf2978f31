/**
 * Child processes for end-to-end tests: spawn `node dist/...` with an environment, capture its
 * output line by line, wait for a line or for an HTTP endpoint, and kill it. A `ProcessGroup`
 * tracks children so one `afterAll` stops them all, and a process-exit hook SIGKILLs any that
 * a crashed test run left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** How a child ended. */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  /** Added to (and overriding) the test process's environment; `undefined` removes a variable. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Default: the repository root. */
  readonly cwd?: string;
  /** Label in diagnostics; default the script's file name. */
  readonly name?: string;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** The repository root: the nearest ancestor with a package.json (works from src and from dist). */
export const REPO_ROOT = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

/** Absolute path of a built file, e.g. `distPath('src/demo/main.js')`. */
export function distPath(relative: string): string {
  return join(REPO_ROOT, 'dist', relative);
}

/** A spawned child with its captured output. */
export class ChildHandle {
  /** stdout lines, in order. */
  readonly stdout: string[] = [];
  /** stderr lines, in order. */
  readonly stderr: string[] = [];
  /** Both streams, in arrival order. */
  readonly lines: string[] = [];
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitInfo>;
  private exit: ExitInfo | undefined;
  private readonly lineEvents = new EventEmitter<{ line: [string] }>();

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    live.add(child);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    for (const [stream, sink] of [
      [child.stdout, this.stdout],
      [child.stderr, this.stderr],
    ] as const) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        sink.push(line);
        this.lines.push(line);
        if (process.env['TEST_ECHO_CHILDREN']) console.log(`[${this.name}] ${line}`);
        this.lineEvents.emit('line', line);
      });
    }
  }

  /** How the process exited, or undefined while it runs. */
  get exitInfo(): ExitInfo | undefined {
    return this.exit;
  }

  /** The last `count` output lines, for failure messages. */
  tail(count = 30): string {
    return this.lines.slice(-count).join('\n');
  }

  /** Resolves with the first line (already printed or still to come) matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    for (const line of this.lines) {
      const m = line.match(pattern);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const onLine = (line: string): void => {
        const m = line.match(pattern);
        if (m) finish(() => resolve(m));
      };
      const fail = (why: string) => () =>
        finish(() => reject(new Error(`${this.name}: ${why} waiting for ${pattern}\n${this.tail()}`)));
      const timer = setTimeout(fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      const onExit = fail('exited');
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        this.lineEvents.off('line', onLine);
        this.child.off('exit', onExit);
        settle();
      };
      this.lineEvents.on('line', onLine);
      if (this.exit) onExit();
      else this.child.once('exit', onExit);
    });
  }

  /** Sends `signal` (default SIGTERM), then SIGKILL after `graceMs`; resolves once it exited. */
  async kill(signal: NodeJS.Signals = 'SIGTERM', graceMs = 3_000): Promise<ExitInfo> {
    if (this.exit) return this.exit;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Spawns `node <script> ...args` (the current Node binary), capturing its output. */
export function spawnNode(
  script: string,
  args: readonly string[] = [],
  options: SpawnOptions = {},
): ChildHandle {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new ChildHandle(options.name ?? script.split('/').pop() ?? script, child);
}

/**
 * Polls `url` every `intervalMs` until it answers `status` (default 200); rejects after
 * `timeoutMs`, or at once when `child` exits first.
 */
export async function waitForHttp(
  url: string,
  options: { timeoutMs?: number; intervalMs?: number; status?: number; child?: ChildHandle } = {},
): Promise<void> {
  const { timeoutMs = 10_000, intervalMs = 50, status = 200, child } = options;
  const deadline = performance.now() + timeoutMs;
  let last: string;
  for (;;) {
    if (child?.exitInfo) throw new Error(`${child.name} exited before ${url} answered\n${child.tail()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(Math.max(intervalMs * 4, 500)) });
      await res.body?.cancel();
      if (res.status === status) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
    }
    if (performance.now() >= deadline) {
      throw new Error(
        `${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})${child ? `\n${child.tail()}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Tracks spawned children so they can all be stopped at once. */
export class ProcessGroup {
  private readonly children = new Set<ChildHandle>();

  /** `spawnNode`, remembered for `killAll`. */
  spawn(script: string, args: readonly string[] = [], options: SpawnOptions = {}): ChildHandle {
    const handle = spawnNode(script, args, options);
    this.children.add(handle);
    return handle;
  }

  /** SIGTERM (then SIGKILL after `graceMs`) every child still running; waits for all to exit. */
  async killAll(graceMs = 3_000): Promise<void> {
    const all = [...this.children];
    this.children.clear();
    await Promise.all(all.map((c) => c.kill('SIGTERM', graceMs)));
  }
}

/**
 * A group whose children are killed after the suite: `const procs = useProcesses(afterAll)`.
 * The hook is passed in so this file does not depend on the test runner.
 */
export function useProcesses(afterAllHook: (fn: () => Promise<void>) => void): ProcessGroup {
  const group = new ProcessGroup();
  afterAllHook(() => group.killAll());
  return group;
}
