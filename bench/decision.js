/**
 * Microbenchmark of one routing decision: `decide` over a route of 20 backends, with the real
 * HealthRegistry's lookup (warm: every backend has recent successes and one has failures), as
 * the proxy calls it. Imports routecar's build (dist/), so it measures what ships.
 *
 *   node bench/decision.js [--dist DIR] [--iterations N] [--batches B]
 *
 * Prints one JSON object: µs per decision for each batch (process.hrtime.bigint around N calls),
 * and their median. bench/run.js runs it in a fresh process pinned to the proxies' core.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    dist: { type: 'string', default: 'dist' },
    iterations: { type: 'string', default: '200000' },
    batches: { type: 'string', default: '7' },
  },
});
const dist = path.resolve(opts.dist);
const load = (rel) => import(pathToFileURL(path.join(dist, rel)).href);
const { parsePolicy } = await load('src/policy/parse.js');
const { HealthRegistry } = await load('src/health/registry.js');
const { decide } = await load('src/routing/decide.js');
const { extractRequest } = await load('src/ingress/extract.js');
const { chatBody } = await import('./lib/workload.js');
const { warmHealth } = await import('./lib/warm-health.js');

const BACKENDS = 20;
const names = Array.from({ length: BACKENDS }, (_, i) => `b${String(i).padStart(2, '0')}`);
const yaml = [
  'version: 1',
  'backends:',
  ...names.flatMap((n, i) => [
    `  ${n}:`,
    `    url: http://10.0.0.${i + 1}:8000/v1`,
    '    model: m',
    `    price: { input: ${0.2 + i * 0.05}, output: ${0.4 + i * 0.1} }`,
  ]),
  'routes:',
  '  bench:',
  `    backends: [${names.join(', ')}]`,
  '',
].join('\n');
const parsed = parsePolicy(yaml);
if (!parsed.ok) throw new Error(`bench policy refused: ${JSON.stringify(parsed.errors)}`);
const policy = parsed.policy;

const { health, now } = warmHealth(HealthRegistry, policy);

const { features } = extractRequest(
  'chat.completions',
  { 'content-type': 'application/json', authorization: 'Bearer sk-bench', 'x-tenant-id': 'acme' },
  chatBody(false),
);
let seed = 42;
const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const input = { policy, health: health.lookup, features, nowMs: now, random };

const one = decide(input);
if (!one.ok || one.decision.attempts.length === 0) throw new Error(`decide refused: ${JSON.stringify(one)}`);

const iterations = Number(opts.iterations);
let sink = 0;
const run = (n) => {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink += decide(input).ok ? 1 : 0;
  return Number(process.hrtime.bigint() - t0) / 1000 / n;
};
run(Math.min(iterations, 20_000)); // warm-up: let the JIT settle
const batches = Array.from({ length: Number(opts.batches) }, () => run(iterations));
const sorted = [...batches].sort((a, b) => a - b);
process.stdout.write(
  JSON.stringify({
    backends: BACKENDS,
    iterations,
    usPerDecision: batches,
    medianUs: sorted[Math.floor(sorted.length / 2)],
    attempts: one.decision.attempts.length,
    sink: sink > 0,
  }) + '\n',
);
