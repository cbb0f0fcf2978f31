/**
 * The three measurements: sequential latency (one connection), streaming time to first token
 * (one connection), and throughput under 32 connections (autocannon).
 *
 * The sequential loops use node:http with one keep-alive socket per target and time every
 * request with performance.now() (microsecond resolution, unlike autocannon's ms histogram).
 * Targets are visited in turn, request by request, with the starting target rotating, so
 * background noise (GC in the load generator, the other processes, CPU frequency) is spread
 * evenly over them instead of landing on whichever target ran during a noisy second.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { cpuMs } from './procs.js';

/** One timed POST. Resolves with total time and time to the first `data:` chunk (ms). */
function timedPost(target, body, headers) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first;
    const req = http.request(
      {
        agent: target.agent,
        host: target.host,
        port: target.port,
        path: '/v1/chat/completions',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': body.length, ...headers },
      },
      (res) => {
        res.on('data', (chunk) => {
          if (first === undefined && chunk.includes('data:')) first = performance.now();
        });
        res.on('end', () => {
          const end = performance.now();
          if (res.statusCode !== 200) reject(new Error(`${target.name}: HTTP ${res.statusCode}`));
          else resolve({ totalMs: end - t0, firstDataMs: first === undefined ? undefined : first - t0 });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** `{name, url}` → a target with its own single keep-alive socket. */
export function makeTarget(name, url) {
  const u = new URL(url);
  return {
    name,
    url: u.origin,
    host: u.hostname,
    port: Number(u.port),
    agent: new http.Agent({ keepAlive: true, maxSockets: 1 }),
  };
}

/**
 * Sequential requests, interleaved over `targets`: `warmup` unrecorded rounds, then `count`
 * recorded ones. `pick(result)` chooses the figure kept (total time, or first `data:` chunk).
 * Returns `{ [name]: number[] }`.
 */
export async function sequential(targets, { warmup, count, body, headers = {}, pick }) {
  const samples = Object.fromEntries(targets.map((t) => [t.name, []]));
  for (let i = 0; i < warmup + count; i++) {
    for (let j = 0; j < targets.length; j++) {
      const t = targets[(i + j) % targets.length];
      const r = await timedPost(t, body, headers);
      if (i >= warmup) samples[t.name].push(pick(r));
    }
  }
  return samples;
}

/** p50/p90/p99/mean/min of a list of ms values. */
export function summarize(values) {
  const s = Float64Array.from(values).sort();
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return { n: s.length, min: s[0], p50: at(0.5), p90: at(0.9), p99: at(0.99), mean };
}

/**
 * One autocannon run: 32 connections by default, pipelining 1, POST `body` (with `headers`). Also returns the CPU
 * time per request of each process in `pids` (name → pid): unlike requests/s, that figure does
 * not depend much on what else the shared cores are doing. Throws when a response is not 2xx,
 * so a misconfigured target cannot post a fast but meaningless figure.
 */
export async function throughput(target, { body, headers = {}, durationS, connections = 32, pids = {} }) {
  // CPU used during the run, per request, by each process in `pids` and by this one (autocannon).
  const before = Object.fromEntries(Object.entries(pids).map(([n, pid]) => [n, cpuMs(pid)]));
  const selfBefore = process.cpuUsage();
  const result = await autocannon({
    url: `${target.url}/v1/chat/completions`,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    connections,
    pipelining: 1,
    duration: durationS,
  });
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) {
    throw new Error(
      `${target.name}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts out of ${result.requests.total}`,
    );
  }
  const selfCpu = process.cpuUsage(selfBefore);
  const cpuUsPerRequest = {};
  for (const [n, pid] of Object.entries(pids))
    cpuUsPerRequest[n] = ((cpuMs(pid) - before[n]) * 1000) / result.requests.total;
  return {
    rps: result.requests.total / result.duration,
    cpuUsPerRequest,
    loadGeneratorCpuPct: (100 * (selfCpu.user + selfCpu.system)) / 1e6 / result.duration,
    requests: result.requests.total,
    durationS: result.duration,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
  };
}
