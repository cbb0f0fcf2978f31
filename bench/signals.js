/**
 * What model-server load signals cost:
 *  1. the routing decision with every scoring term on (latency with the window p95, errors, cost,
 *     load from fresh signals) over a route of 20 backends, against the same decision without
 *     signals (target ≤ 5 µs), in process, on routecar's build (dist/);
 *  2. proxy throughput with signals on (every backend scraped once a second) against off
 *     (target ≥ 0.95×): routecar over four fake vLLM servers (one process serving them all), 32
 *     connections, rounds alternating off/on so drift on the shared machine hits both alike.
 *
 *   npm run build && node bench/signals.js [--quick] [--decision-only] [--json FILE]
 *
 * Prints the figures as one JSON object; docs/benchmarks.md ("Load signals") quotes a run.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { throughput } from './lib/measure.js';
import { freePort, startNode, startRoutecar, stop, stopAll } from './lib/procs.js';
import { warmHealth } from './lib/warm-health.js';
import { chatBody } from './lib/workload.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'decision-only': { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
const SETTINGS = opts.quick
  ? { iterations: 20_000, batches: 3, rounds: 1, durationS: 3 }
  : { iterations: 200_000, batches: 7, rounds: 3, durationS: 10 };

const dist = (rel) => import(path.join(ROOT, 'dist', rel));
const { parsePolicy } = await dist('src/policy/parse.js');
const { HealthRegistry } = await dist('src/health/registry.js');
const { decide } = await dist('src/routing/decide.js');
const { extractRequest } = await dist('src/ingress/extract.js');
const { SignalStore } = await dist('src/signals/store.js');

// 1. The decision.
const BACKENDS = 20;
const names = Array.from({ length: BACKENDS }, (_, i) => `b${String(i).padStart(2, '0')}`);
const parsed = parsePolicy(
  [
    'version: 1',
    'backends:',
    ...names.flatMap((n, i) => [
      `  ${n}:`,
      `    url: http://10.0.0.${i + 1}:8000/v1`,
      '    model: m',
      `    price: { input: ${0.2 + i * 0.05}, output: ${0.4 + i * 0.1} }`,
      `    signals: { metricsUrl: http://10.0.0.${i + 1}:8000/metrics, format: vllm }`,
    ]),
    'routes:',
    '  bench:',
    `    backends: [${names.join(', ')}]`,
    '    objective: { latency: 1, errors: 4, cost: 1, load: 1 }',
    '',
  ].join('\n'),
);
if (!parsed.ok) throw new Error(`bench policy refused: ${JSON.stringify(parsed.errors)}`);
const policy = parsed.policy;

const { health, now } = warmHealth(HealthRegistry, policy);
const store = new SignalStore({ now: () => now });
names.forEach((n, i) => {
  store.track(n, { metricsUrl: `http://x/${n}`, format: 'vllm', intervalMs: 1000 });
  store.record(n, { queued: i % 5, running: 8 + i, kvCacheUsage: 0.5 + (i % 6) / 10 });
});
const { features } = extractRequest(
  'chat.completions',
  { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
  chatBody(false),
);
let seed = 42;
const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const withSignals = { policy, health: health.lookup, signals: store.lookup, features, nowMs: now, random };
const without = { policy, health: health.lookup, features, nowMs: now, random };
for (const input of [withSignals, without]) {
  const r = decide(input);
  if (!r.ok) throw new Error(`decide refused: ${r.refusal.message}`);
}
const check = decide(withSignals);
if (check.decision.candidates.every((c) => c.terms?.load === 1)) throw new Error('signals not scored');

let sink = 0;
const time = (input, n) => {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink += decide(input).ok ? 1 : 0;
  return Number(process.hrtime.bigint() - t0) / 1000 / n;
};
time(withSignals, 20_000);
time(without, 20_000);
const decision = { withSignalsUs: [], withoutUs: [] };
for (let b = 0; b < SETTINGS.batches; b++) {
  decision.withSignalsUs.push(time(withSignals, SETTINGS.iterations));
  decision.withoutUs.push(time(without, SETTINGS.iterations));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// 2. Throughput, signals off and on.
const FAKES = 4;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'routecar-bench-signals-'));
const rounds = { off: [], on: [] };
if (!opts['decision-only'])
  try {
    const ports = [];
    for (let i = 0; i < FAKES; i++) ports.push(await freePort());
    const fakes = await Promise.all(
      ports.map((port, i) =>
        startNode(
          `fake ${i}`,
          [path.join(ROOT, 'dist/src/demo/main.js'), '--name', `f${i}`, '--port', String(port)],
          {
            ready: (out) => out.includes('listening on'),
          },
        ),
      ),
    );
    const policyFile = (on) => {
      const file = path.join(tmp, `policy-${on ? 'on' : 'off'}.json`);
      const backends = Object.fromEntries(
        ports.map((port, i) => [
          `f${i}`,
          {
            url: `http://127.0.0.1:${port}/v1`,
            model: `f${i}`,
            price: { input: 0.1, output: 0.2 },
            ...(on
              ? {
                  signals: {
                    metricsUrl: `http://127.0.0.1:${port}/metrics`,
                    format: 'vllm',
                    intervalMs: 1000,
                  },
                }
              : {}),
          },
        ]),
      );
      writeFileSync(
        file,
        JSON.stringify({ version: 1, backends, routes: { bench: { backends: Object.keys(backends) } } }),
      );
      return file;
    };
    const env = { ROUTECAR_LOG_LEVEL: 'warn', ROUTECAR_STATE_DIR: path.join(tmp, 'state') };
    const body = chatBody(false);
    for (let r = 0; r < SETTINGS.rounds; r++) {
      for (const mode of ['off', 'on']) {
        const rc = await startRoutecar(`routecar ${mode}`, {
          main: path.join(ROOT, 'dist/src/cli/main.js'),
          policyFile: policyFile(mode === 'on'),
          env,
        });
        await sleep(1500); // signals fresh, JIT warm-ish
        await throughput({ name: mode, url: rc.url }, { body, durationS: 1, pids: {} });
        const t = await throughput(
          { name: mode, url: rc.url },
          { body, durationS: SETTINGS.durationS, pids: { routecar: rc.proc.pid } },
        );
        if (mode === 'on') {
          const state = await (await globalThis.fetch(`${rc.adminUrl}/admin/state`)).json();
          const fresh = (state.signals ?? []).filter((s) => s.state === 'fresh').length;
          if (fresh !== FAKES)
            throw new Error(`signals on, but ${fresh} of ${FAKES} fresh: ${JSON.stringify(state.signals)}`);
        }
        rounds[mode].push({ rps: t.rps, cpuUsPerRequest: t.cpuUsPerRequest.routecar });
        await stop(rc.proc);
      }
    }
    await Promise.all(fakes.map((f) => stop(f)));
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }

const rps = (mode) => (rounds[mode].length > 0 ? median(rounds[mode].map((x) => x.rps)) : undefined);
const cpu = (mode) =>
  rounds[mode].length > 0 ? median(rounds[mode].map((x) => x.cpuUsPerRequest)) : undefined;
const result = {
  backends: BACKENDS,
  decision: {
    iterations: SETTINGS.iterations,
    withSignalsMedianUs: median(decision.withSignalsUs),
    withoutSignalsMedianUs: median(decision.withoutUs),
    batches: decision,
    target: '≤ 5 µs with every term on',
  },
  throughput: {
    rounds,
    offRps: rps('off'),
    onRps: rps('on'),
    ratio: rounds.on.length > 0 ? rps('on') / rps('off') : undefined,
    cpuUsPerRequest: { off: cpu('off'), on: cpu('on') },
    target: 'on / off ≥ 0.95',
  },
  node: process.version,
  loadAverage: os.loadavg()[0],
  sink: sink > 0,
};
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
if (opts.json) writeFileSync(opts.json, JSON.stringify(result, null, 2) + '\n');
