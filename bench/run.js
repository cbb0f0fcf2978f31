/**
 * routecar's benchmark: what the sidecar adds to every request, against the same fake model
 * server, compared with talking to it directly and with a bare express + http-proxy-middleware
 * pass-through. Method, machine and targets: docs/benchmarks.md.
 *
 *   npm run bench                      # builds, then runs the full benchmark (about 3 minutes)
 *   node bench/run.js --quick          # shorter runs, for a smoke test (about 30 s)
 *   node bench/run.js --json out.json  # also write the raw results there
 *   node bench/run.js --profile        # routecar's throughput run only, under --cpu-prof;
 *                                      # prints where its CPU time goes (bench/lib/profile.js)
 *   node bench/run.js --routecar-main other/dist/src/cli/main.js   # compare another build
 *   node bench/run.js --wait-quiet 300 # first wait up to 300 s for the load average to drop below 1
 *   node bench/run.js --no-save        # an experiment: write neither latest.json nor the doc
 *
 * Processes (each its own, so none steals the other's event loop; they still share the cores):
 *   upstream  dist/src/demo/main.js, zero latency, zero token delay (a stream's token delay is
 *             set per request with the fake's x-fake-token-delay-ms header)
 *   baseline  bench/baseline-proxy.js → upstream
 *   routecar  dist/src/cli/main.js start, one route over one backend → upstream
 *   this one  the load generator: sequential loops and autocannon
 *
 * Outputs: a table on stdout, bench/results/latest.json, the block between the bench markers in
 * docs/benchmarks.md, and --json FILE when given (only --json with --no-save; none of them with
 * --profile, whose figures the profiler distorts). Every child is killed on the way out, error or not.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { makeTarget, sequential, summarize, throughput } from './lib/measure.js';
import { rssMb, sampleRss, shippedNodeFlags, startNode, startRoutecar, stop, stopAll } from './lib/procs.js';
import { summarizeProfile } from './lib/profile.js';
import { benchPolicy, chatBody } from './lib/workload.js';
import { checkTargets, markdown, writeIntoDoc, writeJson } from './lib/report.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PROFILE_DIR = path.join(ROOT, 'bench', 'results', 'profile');
const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'routecar-main': { type: 'string', default: 'dist/src/cli/main.js' },
    'wait-quiet': { type: 'string', default: '0' },
    'no-save': { type: 'boolean', default: false },
  },
});

const SETTINGS = opts.quick
  ? {
      latency: { warmup: 100, count: 1000 },
      ttft: { warmup: 20, count: 150 },
      throughput: { rounds: 1, warmupS: 1, durationS: 3, connections: 32 },
    }
  : {
      latency: { warmup: 300, count: 3000 },
      ttft: { warmup: 50, count: 500 },
      throughput: { rounds: 3, warmupS: 2, durationS: 10, connections: 32 },
    };

let tmpDir; // the policy file and routecar's state directory; removed on the way out

/** routecar runs with the flags it ships with; the baseline gets the same, like for like. */
const SHIPPED_NODE_FLAGS = shippedNodeFlags(path.resolve(ROOT, opts['routecar-main']));

async function main() {
  await waitQuiet(Number(opts['wait-quiet']));
  const tmp = (tmpDir = mkdtempSync(path.join(os.tmpdir(), 'routecar-bench-')));
  try {
    const procs = await startProcesses(tmp);
    if (opts.profile) return await profileRun(procs);
    const results = await measureAll(procs);
    results.targets = checkTargets(results);
    const block = markdown(results);
    console.log(`\n${block}\n`);
    if (opts.json) await writeJson(path.resolve(opts.json), results);
    if (opts['no-save']) return;
    mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
    await writeJson(path.join(ROOT, 'bench', 'results', 'latest.json'), results);
    await writeIntoDoc(path.join(ROOT, 'docs', 'benchmarks.md'), block);
    log('wrote bench/results/latest.json and docs/benchmarks.md');
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
  if (!opts.profile && !opts['no-save']) await runTelemetryBench();
}

/** The telemetry on/off comparison (bench/telemetry.js) is part of every saved run. */
function runTelemetryBench() {
  const args = [path.join(ROOT, 'bench', 'telemetry.js'), '--write-doc', ...(opts.quick ? ['--quick'] : [])];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`bench/telemetry.js exited with ${code}`)),
    );
  });
}

/** Upstream, baseline and routecar, each in its own process; resolves once all three answer. */
async function startProcesses(tmp) {
  const listening = (re) => (out) => re.exec(out)?.[1];
  const upstream = await startNode(
    'upstream',
    [
      path.join(ROOT, 'dist/src/demo/main.js'),
      ...'--port 0 --name bench-upstream --latency-ms 0 --token-delay-ms 0'.split(' '),
    ],
    { ready: listening(/listening on (http:\/\/[\d.]+:\d+)/) },
  );
  const upstreamUrl = upstream.readyValue;
  const baseline = await startNode(
    'baseline',
    [...SHIPPED_NODE_FLAGS, path.join(ROOT, 'bench/baseline-proxy.js'), '--target', upstreamUrl],
    {
      ready: listening(/baseline proxy listening on (http:\/\/[\d.]+:\d+)/),
    },
  );

  // One route over one backend: the same single upstream the other two targets use.
  const policyFile = path.join(tmp, 'bench-policy.yaml');
  writeFileSync(policyFile, benchPolicy(upstreamUrl));
  if (opts.profile) rmSync(PROFILE_DIR, { recursive: true, force: true });
  const { proc: routecar, url: routecarUrl } = await startRoutecar('routecar', {
    main: path.resolve(ROOT, opts['routecar-main']),
    policyFile,
    extraFlags: opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [],
    env: {
      ROUTECAR_STATE_DIR: path.join(tmp, 'state'),
      ROUTECAR_LOG_LEVEL: 'warn',
      ROUTECAR_DRAIN_TIMEOUT_MS: '3000',
    },
  });
  const targets = [
    makeTarget('direct', upstreamUrl),
    makeTarget('baseline', baseline.readyValue),
    makeTarget('routecar', routecarUrl),
  ];
  return {
    upstream,
    baseline,
    routecar,
    targets,
    byName: Object.fromEntries(targets.map((t) => [t.name, t])),
  };
}

/** Every figure of docs/benchmarks.md, in one run against the same processes. */
async function measureAll({ upstream, baseline, routecar, targets, byName }) {
  const loadBefore = os.loadavg()[0];
  // RSS at idle, once the start-up allocations have settled.
  await sleep(1000);
  const rss = { baseline: { idleMb: rssMb(baseline.pid) }, routecar: { idleMb: rssMb(routecar.pid) } };
  const added = (stats) => ({
    baseline: { p50: stats.baseline.p50 - stats.direct.p50, p99: stats.baseline.p99 - stats.direct.p99 },
    routecar: { p50: stats.routecar.p50 - stats.direct.p50, p99: stats.routecar.p99 - stats.direct.p99 },
  });
  const summarized = (samples) => {
    const stats = Object.fromEntries(Object.entries(samples).map(([n, v]) => [n, summarize(v)]));
    return { ...stats, added: added(stats) };
  };

  log(`latency: ${SETTINGS.latency.count} sequential requests per target...`);
  const body = chatBody(false);
  const latency = summarized(
    await sequential(targets, { ...SETTINGS.latency, body, pick: (r) => r.totalMs }),
  );

  log(`ttft: ${SETTINGS.ttft.count} sequential streams per target (token delay 1 ms, 8 tokens)...`);
  const ttft = summarized(
    await sequential(targets, {
      ...SETTINGS.ttft,
      body: chatBody(true),
      headers: { 'x-fake-token-delay-ms': '1', 'x-fake-tokens': '8' },
      pick: (r) => r.firstDataMs,
    }),
  );

  // Throughput at 32 connections, sampling the RSS of the proxy under test and the CPU time
  // per request of the proxy and of the upstream.
  const tp = SETTINGS.throughput;
  const runs = { direct: [], baseline: [], routecar: [] };
  const proxyPid = { baseline: baseline.pid, routecar: routecar.pid };
  for (let round = 0; round < tp.rounds; round++) {
    // ABC then CBA: neither proxy always runs first (or last) after the machine warmed up.
    const order = round % 2 === 0 ? ['direct', 'baseline', 'routecar'] : ['routecar', 'baseline', 'direct'];
    for (const name of order) {
      log(`throughput: ${name}, round ${round + 1}/${tp.rounds}, ${tp.durationS} s...`);
      const run = { body, connections: tp.connections };
      await throughput(byName[name], { ...run, durationS: tp.warmupS });
      const pids = { upstream: upstream.pid, ...(proxyPid[name] ? { proxy: proxyPid[name] } : {}) };
      const sampler = proxyPid[name] ? sampleRss(proxyPid[name]) : undefined;
      runs[name].push(await throughput(byName[name], { ...run, durationS: tp.durationS, pids }));
      if (sampler) rss[name].loadMaxMb = Math.max(rss[name].loadMaxMb ?? 0, sampler.stop());
    }
  }
  // Medians over the rounds; the ratio is the median of each round's own ratio, so one noisy
  // round (another tenant of the machine busy) moves it less.
  const through = {};
  for (const [name, list] of Object.entries(runs)) {
    const med = (f) => median(list.map(f));
    through[name] = {
      rps: med((x) => x.rps),
      latencyP50Ms: med((x) => x.latencyP50Ms),
      latencyP99Ms: med((x) => x.latencyP99Ms),
      proxyCpuUsPerRequest: name === 'direct' ? undefined : med((x) => x.cpuUsPerRequest.proxy),
      upstreamCpuUsPerRequest: med((x) => x.cpuUsPerRequest.upstream),
      loadGeneratorCpuPct: med((x) => x.loadGeneratorCpuPct),
      runs: list,
    };
  }
  through.roundRatios = runs.routecar.map((r, i) => r.rps / runs.baseline[i].rps);
  through.ratioRoutecarBaseline = median(through.roundRatios);
  through.cpuRatioRoutecarBaseline =
    through.routecar.proxyCpuUsPerRequest / through.baseline.proxyCpuUsPerRequest;
  await sleep(1000);
  rss.routecar.afterMb = rssMb(routecar.pid);
  rss.baseline.afterMb = rssMb(baseline.pid);

  return {
    meta: {
      date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
      mode: opts.quick ? 'quick' : 'full',
      routecar: opts['routecar-main'],
      node: process.versions.node,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
      bodyBytes: body.length,
      // 1-minute load average before and after: above ~1 before, something else was busy.
      loadAverage: { before: loadBefore, after: os.loadavg()[0] },
      ...SETTINGS,
    },
    latency,
    ttft,
    throughput: through,
    rss,
  };
}

/**
 * --profile: only routecar's throughput run, with routecar under --cpu-prof, so the profile shows
 * the loaded steady state and not the sequential phases. The profile is written when routecar
 * exits on SIGTERM; its summary is printed. No figure of this run is recorded anywhere.
 */
async function profileRun({ routecar, byName }) {
  const tp = SETTINGS.throughput;
  const body = chatBody(false);
  log(`profile: routecar warm-up ${tp.warmupS} s, then ${tp.durationS} s under --cpu-prof...`);
  await throughput(byName.routecar, { body, durationS: tp.warmupS, connections: tp.connections });
  const result = await throughput(byName.routecar, {
    body,
    durationS: tp.durationS,
    connections: tp.connections,
  });
  log(`profile: routecar ${result.rps.toFixed(0)} req/s (profiler on)`);
  await stop(routecar);
  const files = readdirSync(PROFILE_DIR).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) throw new Error(`no .cpuprofile in ${PROFILE_DIR}`);
  console.log(summarizeProfile(path.join(PROFILE_DIR, files[0]), ROOT));
}

/** Waits (up to `maxS` seconds) for the 1-minute load average to fall below 1: others' work skews every figure. */
async function waitQuiet(maxS) {
  const deadline = Date.now() + maxS * 1000;
  if (maxS > 0 && os.loadavg()[0] >= 1)
    log(`waiting up to ${maxS} s for the load average (${os.loadavg()[0].toFixed(2)}) to drop below 1...`);
  while (os.loadavg()[0] >= 1 && Date.now() < deadline) await sleep(5000);
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function log(msg) {
  process.stderr.write(`[bench] ${msg}\n`);
}

// Ctrl-C / kill: stop the children first (the 'exit' hook in procs.js is the last resort).
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    log(`${signal}: stopping child processes`);
    void stopAll(1000).finally(() => {
      if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

main().then(
  () => process.exit(0),
  async (err) => {
    console.error(`[bench] failed: ${err instanceof Error ? err.stack : err}`);
    await stopAll(1000);
    process.exit(1);
  },
);
