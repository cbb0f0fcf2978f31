/**
 * The real routecar process for end-to-end tests: writes a policy to a fresh temporary directory
 * (which is also the state dir), starts `node dist/src/cli/main.js start` on ephemeral ports, waits
 * for its "routecar ready" log line, and offers typed views of the admin API.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distPath, spawnNode, type ChildHandle, type ProcessGroup } from './processes.js';

/** Path of the built CLI. */
export const ROUTECAR_CLI = distPath('src/cli/main.js');

/** The parts of `/admin/state` tests read (see src/health/registry.ts `BackendStats`). */
export interface BackendState {
  readonly backend: string;
  readonly breaker: 'closed' | 'open' | 'halfOpen';
  readonly breakerAdmitting: boolean;
  readonly coolingUntil: string | null;
  readonly inflight: number;
  readonly requests: number;
  readonly failures: number;
  readonly errorRatio: number;
  readonly latencyEwmaMs: number | undefined;
  readonly failuresByClass: Readonly<Record<string, number>>;
}

/** `GET /admin/state`. */
export interface AdminState {
  readonly policyVersion: string | undefined;
  readonly backends: readonly BackendState[];
}

export interface StartRoutecarOptions {
  /** The policy document: YAML text, or an object (written as JSON, which is YAML too). */
  readonly policy: string | object;
  /** Extra environment for the child (`ROUTECAR_STATE_DIR` is set to the temp dir unless given). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Tracks the child so the suite's `afterAll` stops it. */
  readonly group?: ProcessGroup;
  /** Label in diagnostics. */
  readonly name?: string;
  readonly readyTimeoutMs?: number;
  /** `HOST:PORT` for the admin listener (default an ephemeral port), e.g. for a Prometheus set up first. */
  readonly adminListen?: string;
}

/** A running routecar. */
export interface Routecar {
  readonly child: ChildHandle;
  /** `http://127.0.0.1:<port>`: the app-facing listener. */
  readonly url: string;
  /** `<url>/v1`, what an OpenAI client takes as `baseURL`. */
  readonly baseURL: string;
  /** `http://127.0.0.1:<adminPort>`. */
  readonly adminUrl: string;
  /** The temp dir holding the policy file and the state. */
  readonly dir: string;
  readonly policyFile: string;
  /** `GET /admin/state`. */
  state(): Promise<AdminState>;
  /** One backend of `/admin/state`; throws when it is not there. */
  backend(name: string): Promise<BackendState>;
  /** `GET /admin/policy` `version`. */
  policyVersion(): Promise<string>;
  /** Polls `/admin/state` until `predicate` holds for the backend; rejects with the last state seen. */
  waitForBackend(
    name: string,
    predicate: (b: BackendState) => boolean,
    timeoutMs?: number,
  ): Promise<BackendState>;
  /** SIGTERM (SIGKILL after a grace period), then removes the temp dir. */
  stop(): Promise<void>;
}

let counter = 0;

/** Writes `policy` to a fresh temp dir and returns both paths. */
export async function writePolicy(
  policy: string | object,
  prefix = 'routecar-e2e-',
): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const file = join(dir, 'policy.yaml');
  await writeFile(file, typeof policy === 'string' ? policy : JSON.stringify(policy, null, 2));
  return { dir, file };
}

export async function startRoutecar(options: StartRoutecarOptions): Promise<Routecar> {
  const { dir, file } = await writePolicy(options.policy);
  const name = options.name ?? `routecar-${++counter}`;
  const admin = options.adminListen ?? '127.0.0.1:0';
  const args = ['start', '--policy', file, '--listen', '127.0.0.1:0', '--admin-listen', admin];
  // The "routecar ready" line is logged at info, so the level stays at info.
  const env = { ROUTECAR_STATE_DIR: join(dir, 'state'), ...options.env, ROUTECAR_LOG_LEVEL: 'info' };
  const child = options.group
    ? options.group.spawn(ROUTECAR_CLI, args, { env, name })
    : spawnNode(ROUTECAR_CLI, args, { env, name });
  let ready: { listen: string; admin: string };
  try {
    const m = await child.waitForLine(/"msg":"routecar ready"/, options.readyTimeoutMs ?? 15_000);
    ready = JSON.parse(m.input ?? '{}') as { listen: string; admin: string };
  } catch (err) {
    await child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const url = ready.listen;
  const adminUrl = ready.admin;

  const getJson = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${adminUrl}${path}`);
    if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const state = (): Promise<AdminState> => getJson<AdminState>('/admin/state');
  const backend = async (backendName: string): Promise<BackendState> => {
    const s = await state();
    const b = s.backends.find((x) => x.backend === backendName);
    if (!b) throw new Error(`/admin/state has no backend "${backendName}": ${JSON.stringify(s)}`);
    return b;
  };

  return {
    child,
    url,
    baseURL: `${url}/v1`,
    adminUrl,
    dir,
    policyFile: file,
    state,
    backend,
    async policyVersion() {
      const p = await getJson<{ version?: string }>('/admin/policy');
      if (typeof p.version !== 'string')
        throw new Error(`/admin/policy has no version: ${JSON.stringify(p)}`);
      return p.version;
    },
    async waitForBackend(backendName, predicate, timeoutMs = 10_000) {
      const deadline = performance.now() + timeoutMs;
      let last: BackendState | undefined;
      for (;;) {
        last = await backend(backendName);
        if (predicate(last)) return last;
        if (performance.now() > deadline) {
          throw new Error(
            `backend ${backendName}: condition not met within ${timeoutMs} ms; last state ${JSON.stringify(last)}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    async stop() {
      await child.kill('SIGTERM', 3_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `node dist/src/cli/main.js ...args` to completion; resolves with its exit code and output. */
export async function runCli(
  args: readonly string[],
  options: { env?: Readonly<Record<string, string | undefined>>; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string; output: string }> {
  const child = spawnNode(ROUTECAR_CLI, args, {
    env: options.env,
    name: `routecar ${args.slice(0, 2).join(' ')}`,
  });
  // 'close' comes after 'exit' and after both output streams ended, so every line has been read.
  const closed = new Promise((resolve) => child.child.once('close', resolve));
  const timer = setTimeout(() => child.child.kill('SIGKILL'), options.timeoutMs ?? 15_000);
  const exit = await child.exited;
  await closed;
  clearTimeout(timer);
  return {
    code: exit.code,
    stdout: child.stdout.join('\n'),
    stderr: child.stderr.join('\n'),
    output: child.lines.join('\n'),
  };
}
