/**
 * Child processes of the benchmark: start, wait until ready, sample memory, and make sure every
 * one of them is gone when the benchmark ends — normally, on an error, or on Ctrl-C.
 */
import { execFileSync, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Every child still running; killed (by pid) on the way out. */
const children = new Set();

/** Whether `taskset` (util-linux) is on the PATH: the bench pins processes to cores with it. */
export const HAVE_TASKSET = (() => {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Pins this process (the load generator) to `cpus` (taskset list syntax, e.g. `0`); no-op without taskset. */
export function pinSelf(cpus) {
  if (HAVE_TASKSET && cpus !== undefined)
    execFileSync('taskset', ['-cp', cpus, String(process.pid)], { stdio: 'ignore' });
}

/**
 * Starts `node ...args` and resolves once `ready(outputSoFar)` returns a truthy value (checked
 * every `everyMs`) or, when `probe` is given, once `probe()` resolves truthy. Rejects if the
 * child exits first or after `timeoutMs`. With `pin` (a taskset CPU list) and taskset present,
 * node runs under `taskset -c PIN` (taskset execs node, so the pid is node's). `proc.readyMs` is
 * the time from spawn to ready, to `everyMs`.
 */
export async function startNode(
  name,
  args,
  { env, ready, probe, pin, everyMs = 50, timeoutMs = 15_000 } = {},
) {
  const t0 = performance.now();
  const pinned = HAVE_TASKSET && pin !== undefined;
  const child = spawn(
    pinned ? 'taskset' : process.execPath,
    pinned ? ['-c', pin, process.execPath, ...args] : args,
    {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const proc = {
    name,
    child,
    pid: child.pid,
    output: '',
    exited: false,
    readyValue: undefined,
    readyMs: undefined,
  };
  children.add(proc);
  const keep = (chunk) => {
    // Keep the tail only: enough to explain a failure, bounded whatever the child writes.
    proc.output = (proc.output + chunk.toString()).slice(-8192);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      proc.exited = true;
      children.delete(proc);
      resolve({ code, signal });
    }),
  );
  proc.exitedPromise = exited;

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exited) throw new Error(`${name} exited during start-up:\n${proc.output}`);
    if (Date.now() > deadline) throw new Error(`${name} not ready after ${timeoutMs} ms:\n${proc.output}`);
    const value = ready ? ready(proc.output) : probe ? await probe().catch(() => undefined) : true;
    if (value) {
      proc.readyValue = value;
      proc.readyMs = performance.now() - t0;
      return proc;
    }
    await sleep(everyMs);
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child is gone. */
export async function stop(proc, graceMs = 5_000) {
  if (proc.exited) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  await proc.exitedPromise;
  clearTimeout(timer);
}

/** Stops every child still running, in parallel. */
export async function stopAll(graceMs) {
  await Promise.all([...children].map((p) => stop(p, graceMs)));
}

// Last resort: whatever is still running when this process exits is killed, by pid.
process.on('exit', () => {
  for (const p of children) p.child.kill('SIGKILL');
});

/** A free TCP port on 127.0.0.1 (released before returning; fine on a quiet machine). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resident set size of a process in MB (VmRSS of /proc/PID/status); undefined once it is gone. */
export function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU time (user + system) a process has used so far, in ms (from /proc/PID/stat, 10 ms ticks). */
export function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S;
  } catch {
    return undefined;
  }
}
const TICKS_PER_S = 100; // USER_HZ: 100 on every Linux build that matters

/** Samples the RSS of `pid` every `everyMs` until `stop()` is called; `stop()` returns the max in MB. */
export function sampleRss(pid, everyMs = 200) {
  let max = rssMb(pid) ?? 0;
  const timer = setInterval(() => {
    max = Math.max(max, rssMb(pid) ?? 0);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(max, rssMb(pid) ?? 0);
    },
  };
}

/**
 * The V8 flags routecar ships with (its bin's shebang `#!/usr/bin/env -S node FLAGS`, which
 * `npm start` and the image repeat), read from the built bin so the bench runs it as deployed.
 */
export function shippedNodeFlags(mainJs) {
  const shebang = readFileSync(mainJs, 'utf8').split('\n')[0];
  const m = /^#!\/usr\/bin\/env -S node((?: --\S+)*)$/.exec(shebang);
  return m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
}

/**
 * Starts `routecar start` on free ports with the flags it ships with (plus `extraFlags`) and
 * waits until /readyz answers (polled every 5 ms, so `proc.readyMs` is the time to ready).
 * Resolves with the process and its two base URLs.
 */
export async function startRoutecar(name, { main, policyFile, env, extraFlags = [], pin }) {
  const [port, adminPort] = [await freePort(), await freePort()];
  const proc = await startNode(
    name,
    [
      ...shippedNodeFlags(main),
      ...extraFlags,
      main,
      'start',
      '--policy',
      policyFile,
      '--listen',
      `127.0.0.1:${port}`,
      '--admin-listen',
      `127.0.0.1:${adminPort}`,
    ],
    {
      env,
      pin,
      everyMs: 5,
      probe: async () => (await globalThis.fetch(`http://127.0.0.1:${adminPort}/readyz`)).ok,
    },
  );
  return { proc, url: `http://127.0.0.1:${port}`, adminUrl: `http://127.0.0.1:${adminPort}` };
}
