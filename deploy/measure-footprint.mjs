#!/usr/bin/env node
/**
 * Measures what the routecar sidecar costs a pod, to size its Kubernetes requests and limits:
 * resident memory (VmRSS now, VmHWM peak) and CPU time, idle and under load, read from /proc.
 *
 *   npm run build && node deploy/measure-footprint.mjs [--seconds 20] [--connections 32]
 *
 * It starts the demo fleet (`node dist/src/demo/main.js --fleet`, the backends of
 * policies/default.yaml, 30-400 ms to first token) and routecar with policies/default.yaml as
 * separate processes, then drives `chat` with autocannon: non-streaming, then streaming.
 * A second phase points routecar at zero-latency backends to find its CPU ceiling. Linux only.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '20' }, connections: { type: 'string', default: '32' } },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const root = new URL('..', import.meta.url).pathname;
const TICKS = 100; // USER_HZ on Linux

function run(args, env = {}) {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  // Kept short: at the default log level routecar writes one line per request.
  const keep = (d) => (out = (out + d).slice(-20_000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return { child, output: () => out };
}

async function waitFor(check, what, ms = 15_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const m = check();
    if (m) return m;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function sample(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const cpuSeconds = (Number(stat[11]) + Number(stat[12])) / TICKS; // utime + stime
  return { rssMiB: kb('VmRSS') / 1024, peakMiB: kb('VmHWM') / 1024, cpuSeconds };
}

async function load(url, body, label, pid) {
  const before = sample(pid);
  const t0 = Date.now();
  const result = await autocannon({
    url,
    method: 'POST',
    connections,
    duration: seconds,
    headers: { 'content-type': 'application/json' },
    body,
  });
  const wall = (Date.now() - t0) / 1000;
  const after = sample(pid);
  const cores = (after.cpuSeconds - before.cpuSeconds) / wall;
  const row = {
    phase: label,
    rps: Math.round(result.requests.average),
    non2xx: result.non2xx,
    errors: result.errors,
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
    cpuCores: Number(cores.toFixed(3)),
    rssMiB: Number(after.rssMiB.toFixed(1)),
    peakRssMiB: Number(after.peakMiB.toFixed(1)),
  };
  console.log(JSON.stringify(row));
  return row;
}

async function startRoutecar(policy, port, adminPort) {
  const state = mkdtempSync(join(tmpdir(), 'routecar-measure-'));
  const rc = run(
    [
      'dist/src/cli/main.js',
      'start',
      '--policy',
      policy,
      '--listen',
      `127.0.0.1:${port}`,
      '--admin-listen',
      `127.0.0.1:${adminPort}`,
    ],
    {
      ROUTECAR_STATE_DIR: state,
      ROUTECAR_LOG_LEVEL: 'info', // the default: one log line per request is part of the cost
    },
  );
  await waitFor(() => /routecar ready/.test(rc.output()) || rc.child.exitCode !== null, 'routecar ready');
  if (rc.child.exitCode !== null) throw new Error(`routecar exited:\n${rc.output()}`);
  await new Promise((r) => setTimeout(r, 1_000)); // let start-up garbage settle
  return rc;
}

const chat = JSON.stringify({
  model: 'chat',
  max_tokens: 32,
  messages: [{ role: 'user', content: 'What is the capital of France? Answer briefly.' }],
});
const chatStream = JSON.stringify({
  model: 'chat',
  stream: true,
  max_tokens: 32,
  messages: [{ role: 'user', content: 'What is the capital of France? Answer briefly.' }],
});

// Phase 1: the default policy against the demo fleet (realistic latencies, streaming).
const fleet = run(['dist/src/demo/main.js', '--fleet']);
await waitFor(() => /8103/.test(fleet.output()), 'demo fleet');
const rc = await startRoutecar('policies/default.yaml', 14100, 14101);
const pid = rc.child.pid;
const idle = sample(pid);
console.log(
  JSON.stringify({
    phase: 'idle after start',
    rssMiB: Number(idle.rssMiB.toFixed(1)),
    peakRssMiB: Number(idle.peakMiB.toFixed(1)),
    cpuSecondsAtStart: idle.cpuSeconds,
  }),
);
await load(
  'http://127.0.0.1:14100/v1/chat/completions',
  chat,
  `demo fleet, ${connections} connections, non-streaming`,
  pid,
);
await load(
  'http://127.0.0.1:14100/v1/chat/completions',
  chatStream,
  `demo fleet, ${connections} connections, streaming`,
  pid,
);
rc.child.kill('SIGTERM');
fleet.child.kill('SIGTERM');

// Phase 2: zero-latency backends, to find the CPU ceiling of one routecar.
const fast = run(['dist/src/demo/main.js', '--port', '18201', '--name', 'fast']);
await waitFor(() => /listening/.test(fast.output()), 'fast upstream');
const dir = mkdtempSync(join(tmpdir(), 'routecar-measure-'));
const policy = join(dir, 'fast.yaml');
writeFileSync(
  policy,
  JSON.stringify({
    version: 1,
    backends: {
      fast: {
        url: 'http://127.0.0.1:18201/v1',
        model: 'fast',
        price: { input: 0.1, output: 0.1 },
        maxInflight: 1024,
      },
    },
    routes: { chat: { backends: ['fast'] } },
  }),
);
const rc2 = await startRoutecar(policy, 14200, 14201);
await load(
  'http://127.0.0.1:14200/v1/chat/completions',
  chat,
  `zero-latency backend, ${connections} connections, non-streaming`,
  rc2.child.pid,
);
rc2.child.kill('SIGTERM');
fast.child.kill('SIGTERM');
