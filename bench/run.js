/**
 * routecar's benchmark, paired: what the sidecar costs per request against the floor (a bare
 * express + http-proxy-middleware pass-through) and against the model server reached directly,
 * every figure of issue 13's targets in one run. Method, machine and targets: docs/benchmarks.md.
 *
 *   npm run bench                      # builds, then the full run (about 9 minutes)
 *   node bench/run.js --quick          # shorter rounds, for development (about 2 minutes)
 *   node bench/run.js --rounds 5 --stream-load-s 30   # override one setting
 *   node bench/run.js --json out.json  # also write the raw results there
 *   node bench/run.js --profile        # routecar's throughput run only, under --cpu-prof;
 *                                      # prints where its CPU time goes (bench/lib/profile.js)
 *   node bench/run.js --routecar-main other/dist/src/cli/main.js   # compare another build
 *   node bench/run.js --wait-quiet 300 # first wait up to 300 s for the load average to drop below 1
 *   node bench/run.js --no-save        # an experiment: write neither latest.json nor the doc
 *
 * Each round starts fresh processes, one at a time (so start-up is timed uncontended):
 *   upstream  dist/src/demo/main.js, zero latency, zero token delay            core 0
 *   floor     bench/baseline-proxy.js → upstream                               core 1
 *   floor-b   a second floor: the A/A pair, which shows the noise               core 1
 *   routecar  routecar start at its defaults, one route over one backend         core 1
 *   traced    the same routecar with traces sampled at 1% (OTLP to a sink here) core 1
 *   this one  the load generator (sequential loops, autocannon), the OTLP sink  core 0
 * (pinned with taskset when present and the machine has two cores or more). All are warmed
 * together, then measured interleaved, the order rotating by round: latency and TTFT at one
 * connection (request by request across targets), throughput and CPU per request (from
 * /proc/PID/stat) with JSON and streaming bodies, then routecar under streaming load for the RSS
 * figure. Every figure is the median of the per-round values, with the min–max spread.
 * After the rounds, the decision microbenchmark (bench/decision.js) runs on the proxies' core.
 *
 * Outputs: a table on stdout, bench/results/latest.json, the block between the bench markers in
 * docs/benchmarks.md, and --json FILE when given. Every child is killed on the way out.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { makeTarget, sequential, summarize, throughput } from './lib/measure.js';
import {
  HAVE_TASKSET,
  pinSelf,
  rssMb,
  sampleRss,
  shippedNodeFlags,
  startNode,
  startRoutecar,
  stop,
  stopAll,
} from './lib/procs.js';
import { summarizeProfile } from './lib/profile.js';
import { benchPolicy, chatBody } from './lib/workload.js';
import { checkTargets, markdown, spread, writeIntoDoc, writeJson } from './lib/report.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PROFILE_DIR = path.join(ROOT, 'bench', 'results', 'profile');
const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    'duration-s': { type: 'string' },
    'stream-load-s': { type: 'string' },
    json: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'routecar-main': { type: 'string', default: 'dist/src/cli/main.js' },
    'wait-quiet': { type: 'string', default: '0' },
    'no-save': { type: 'boolean', default: false },
  },
});

const SETTINGS = {
  ...(opts.quick
    ? {
        rounds: 2,
        latency: { warmup: 100, count: 400 },
        ttft: { warmup: 20, count: 100 },
        throughput: { warmupS: 1, durationS: 3, slices: 1, connections: 32 },
        streamLoadS: 10,
        decision: { iterations: 50_000, batches: 3 },
      }
    : {
        rounds: 3,
        latency: { warmup: 200, count: 1000 },
        ttft: { warmup: 30, count: 300 },
        throughput: { warmupS: 2, durationS: 6, slices: 3, connections: 32 },
        streamLoadS: 60,
        decision: { iterations: 200_000, batches: 7 },
      }),
};
if (opts.rounds) SETTINGS.rounds = Number(opts.rounds);
if (opts['duration-s']) SETTINGS.throughput.durationS = Number(opts['duration-s']);
if (opts['stream-load-s']) SETTINGS.streamLoadS = Number(opts['stream-load-s']);

/** What an OpenAI client sends with every request (routecar hashes it only when a rule reads apiKeyId). */
const AUTH = { authorization: 'Bearer sk-bench-0123456789abcdefghijklmnopqrstuvwxyz' };
/** A streamed chat completion of 16 tokens as fast as the fake produces them. */
const STREAM = {
  body: chatBody(true),
  headers: { ...AUTH, 'x-fake-tokens': '16', 'x-fake-token-delay-ms': '0' },
};
const JSON_REQ = { body: chatBody(false), headers: AUTH };
/** TTFT: a stream whose tokens come 1 ms apart, 8 of them; the figure is the first `data:` chunk. */
const TTFT = {
  body: chatBody(true),
  headers: { ...AUTH, 'x-fake-token-delay-ms': '1', 'x-fake-tokens': '8' },
};

/** Cores: the load generator and the upstream on one, the proxy under test alone on the other. */
const PIN = HAVE_TASKSET && os.cpus().length >= 2 ? { loadgen: '0', upstream: '0', proxy: '1' } : undefined;

const ROUTECAR_MAIN = path.resolve(ROOT, opts['routecar-main']);
const SHIPPED_NODE_FLAGS = shippedNodeFlags(ROUTECAR_MAIN);
const PROXIES = ['floor', 'floorB', 'routecar', 'traced'];

let tmpDir;

async function main() {
  await waitQuiet(Number(opts['wait-quiet']));
  if (PIN) pinSelf(PIN.loadgen);
  const tmp = (tmpDir = mkdtempSync(path.join(os.tmpdir(), 'routecar-bench-')));
  const sink = await startOtlpSink();
  try {
    if (opts.profile) return await profileRun(tmp);
    const started = Date.now();
    const loadBefore = os.loadavg()[0];
    const rounds = [];
    for (let round = 0; round < SETTINGS.rounds; round++) {
      rounds.push(await measureRound(round, tmp, sink));
    }
    log('decision microbenchmark (20 backends, real HealthRegistry)...');
    const decision = await decisionBench();
    const results = summarizeRun(rounds, decision, {
      loadBefore,
      wallS: (Date.now() - started) / 1000,
      sinkPosts: sink.posts(),
    });
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
    sink.server.close();
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Receives OTLP/HTTP posts and throws them away. It answers with the request's own content type
 * and an empty body: a valid (empty) export response for http/protobuf, the default protocol, and
 * for http/json alike.
 */
function startOtlpSink() {
  let posts = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      posts++;
      res.writeHead(200, { 'content-type': req.headers['content-type'] });
      res.end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${server.address().port}`, server, posts: () => posts }),
    ),
  );
}

/** The environment routecar runs with: its defaults, nothing inherited that could change them. */
function routecarEnv(tmp, name, extra = {}) {
  const env = {
    ROUTECAR_STATE_DIR: path.join(tmp, `state-${name}`),
    ROUTECAR_DRAIN_TIMEOUT_MS: '3000',
    ...extra,
  };
  // spawn drops variables whose value is undefined: nothing from the shell switches a default.
  for (const k of Object.keys(process.env))
    if ((k.startsWith('OTEL_') || k.startsWith('ROUTECAR_')) && !(k in env)) env[k] = undefined;
  return env;
}

/** Starts the round's processes one after the other; returns them with their start-up figures. */
async function startRound(round, tmp, sink) {
  const listening = (re) => (out) => re.exec(out)?.[1];
  const upstream = await startNode(
    'upstream',
    [
      path.join(ROOT, 'dist/src/demo/main.js'),
      ...'--port 0 --name bench-upstream --latency-ms 0 --token-delay-ms 0'.split(' '),
    ],
    { ready: listening(/listening on (http:\/\/[\d.]+:\d+)/), pin: PIN?.upstream },
  );
  const upstreamUrl = upstream.readyValue;
  const floorArgs = [
    ...SHIPPED_NODE_FLAGS,
    path.join(ROOT, 'bench/baseline-proxy.js'),
    '--target',
    upstreamUrl,
  ];
  const floorReady = listening(/baseline proxy listening on (http:\/\/[\d.]+:\d+)/);
  const floor = await startNode('floor', floorArgs, { ready: floorReady, pin: PIN?.proxy, everyMs: 5 });
  const floorB = await startNode('floorB', floorArgs, { ready: floorReady, pin: PIN?.proxy, everyMs: 5 });
  const policyFile = path.join(tmp, `policy-${round}.yaml`);
  writeFileSync(policyFile, benchPolicy(upstreamUrl));
  const routecar = await startRoutecar('routecar', {
    main: ROUTECAR_MAIN,
    policyFile,
    pin: PIN?.proxy,
    env: routecarEnv(tmp, `routecar-${round}`),
  });
  const traced = await startRoutecar('traced', {
    main: ROUTECAR_MAIN,
    policyFile,
    pin: PIN?.proxy,
    env: routecarEnv(tmp, `traced-${round}`, {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${sink.url}/v1/traces`,
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.01',
      OTEL_BSP_SCHEDULE_DELAY: '1000',
    }),
  });
  const procs = { upstream, floor, floorB, routecar: routecar.proc, traced: traced.proc };
  const targets = {
    direct: makeTarget('direct', upstreamUrl),
    floor: makeTarget('floor', floor.readyValue),
    floorB: makeTarget('floorB', floorB.readyValue),
    routecar: makeTarget('routecar', routecar.url),
    traced: makeTarget('traced', traced.url),
  };
  return { procs, targets };
}

/** One round: fresh processes, warmed together, every figure measured interleaved. */
async function measureRound(round, tmp, sink) {
  const tag = `round ${round + 1}/${SETTINGS.rounds}`;
  log(`${tag}: starting upstream, floor ×2, routecar, routecar with traces at 1%...`);
  const { procs, targets } = await startRound(round, tmp, sink);
  const rotate = (list) => rotateBy(list, round);
  try {
    // Idle, once the start-up allocations have settled.
    await sleep(1000);
    const startup = {
      readyMs: { floor: procs.floor.readyMs, routecar: procs.routecar.readyMs },
      idleRssMb: { floor: rssMb(procs.floor.pid), routecar: rssMb(procs.routecar.pid) },
    };

    // Warm-up, every target in turn, both bodies.
    const t = SETTINGS.throughput;
    for (const name of rotate(['direct', ...PROXIES])) {
      for (const req of [JSON_REQ, STREAM])
        await throughput(targets[name], { ...req, durationS: t.warmupS, connections: t.connections });
    }

    log(`${tag}: latency and TTFT at one connection...`);
    const seqTargets = rotate(['direct', 'floor', 'floorB', 'routecar']).map((n) => targets[n]);
    const latency = await sequential(seqTargets, {
      ...SETTINGS.latency,
      body: JSON_REQ.body,
      pick: (r) => r.totalMs,
    });
    const ttft = await sequential(seqTargets, {
      ...SETTINGS.ttft,
      ...TTFT,
      pick: (r) => r.firstDataMs,
    });

    // Each target's measured time is cut into slices, the targets taking turns slice by slice (the
    // order rotating), so a noisy second of the shared machine lands on all of them alike.
    const runs = { json: {}, stream: {} };
    const sliceS = t.durationS / t.slices;
    for (const [kind, req, names] of [
      ['json', JSON_REQ, ['direct', ...PROXIES]],
      ['stream', STREAM, ['direct', 'floor', 'floorB', 'routecar']],
    ]) {
      log(`${tag}: throughput ${kind}, ${names.length} targets × ${t.slices} slices of ${sliceS} s...`);
      const parts = Object.fromEntries(names.map((n) => [n, []]));
      for (let slice = 0; slice < t.slices; slice++) {
        for (const name of rotateBy(names, round + slice)) {
          const pids = { upstream: procs.upstream.pid, ...(procs[name] ? { proxy: procs[name].pid } : {}) };
          const sampler = procs[name] ? sampleRss(procs[name].pid) : undefined;
          const run = await throughput(targets[name], {
            ...req,
            durationS: sliceS,
            connections: t.connections,
            pids,
          });
          run.rssMaxMb = sampler?.stop();
          parts[name].push(run);
        }
      }
      for (const name of names) runs[kind][name] = combineRuns(parts[name]);
    }

    log(`${tag}: routecar under streaming load for ${SETTINGS.streamLoadS} s (RSS)...`);
    const sampler = sampleRss(procs.routecar.pid);
    const load = await throughput(targets.routecar, {
      ...STREAM,
      durationS: SETTINGS.streamLoadS,
      connections: t.connections,
    });
    const streamLoad = { rssMaxMb: sampler.stop(), rps: load.rps, afterMb: undefined };
    await sleep(1000);
    streamLoad.afterMb = rssMb(procs.routecar.pid);

    const summarized = Object.fromEntries(Object.entries(latency).map(([n, v]) => [n, summarize(v)]));
    const ttftSummary = Object.fromEntries(Object.entries(ttft).map(([n, v]) => [n, summarize(v)]));
    return { startup, latency: summarized, ttft: ttftSummary, runs, streamLoad };
  } finally {
    await Promise.all(Object.values(procs).map((p) => stop(p)));
  }
}

/** `list` started at index `by` (mod its length). */
function rotateBy(list, by) {
  return list.map((_, i) => list[(i + by) % list.length]);
}

/** Slices of one target's throughput → one run: requests over time, CPU over requests, RSS max. */
function combineRuns(parts) {
  const requests = parts.reduce((a, p) => a + p.requests, 0);
  const durationS = parts.reduce((a, p) => a + p.durationS, 0);
  const cpu = (n) =>
    parts[0].cpuUsPerRequest[n] === undefined
      ? undefined
      : parts.reduce((a, p) => a + p.cpuUsPerRequest[n] * p.requests, 0) / requests;
  return {
    rps: requests / durationS,
    requests,
    durationS,
    cpuUsPerRequest: { proxy: cpu('proxy'), upstream: cpu('upstream') },
    loadGeneratorCpuPct: parts.reduce((a, p) => a + p.loadGeneratorCpuPct * p.durationS, 0) / durationS,
    rssMaxMb: parts[0].rssMaxMb === undefined ? undefined : Math.max(...parts.map((p) => p.rssMaxMb)),
    slicesRps: parts.map((p) => p.rps),
  };
}

/** bench/decision.js in a fresh node with the shipped flags, on the proxies' core. */
async function decisionBench() {
  const { iterations, batches } = SETTINGS.decision;
  const args = [
    ...SHIPPED_NODE_FLAGS,
    path.join(ROOT, 'bench', 'decision.js'),
    '--dist',
    path.resolve(ROUTECAR_MAIN, '../../..'),
    '--iterations',
    String(iterations),
    '--batches',
    String(batches),
  ];
  const [cmd, argv] = PIN
    ? ['taskset', ['-c', PIN.proxy, process.execPath, ...args]]
    : [process.execPath, args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`bench/decision.js exited with ${code}`)),
    );
  });
}

/** Per-round values → median and spread for every figure of the targets table. */
function summarizeRun(rounds, decision, { loadBefore, wallS, sinkPosts }) {
  const per = (f) => spread(rounds.map(f));
  const ratio = (kind, a, b, field = 'rps') => per((r) => r.runs[kind][a][field] / r.runs[kind][b][field]);
  const cpu = (kind, a, b) =>
    per((r) => r.runs[kind][a].cpuUsPerRequest.proxy / r.runs[kind][b].cpuUsPerRequest.proxy);
  const p50 = (r, which, n) => r[which][n].p50;
  const added = (which, n) => per((r) => p50(r, which, n) - p50(r, which, 'direct'));
  const figures = {
    throughputJson: ratio('json', 'routecar', 'floor'),
    throughputStream: ratio('stream', 'routecar', 'floor'),
    aaThroughputJson: ratio('json', 'floorB', 'floor'),
    aaThroughputStream: ratio('stream', 'floorB', 'floor'),
    cpuJson: cpu('json', 'routecar', 'floor'),
    cpuStream: cpu('stream', 'routecar', 'floor'),
    aaCpuJson: cpu('json', 'floorB', 'floor'),
    addedP50: {
      routecar: added('latency', 'routecar'),
      floor: added('latency', 'floor'),
      floorB: added('latency', 'floorB'),
    },
    addedP50OverFloor: per((r) => p50(r, 'latency', 'routecar') - p50(r, 'latency', 'floor')),
    aaAddedP50: per((r) => p50(r, 'latency', 'floorB') - p50(r, 'latency', 'floor')),
    addedTtftP50: {
      routecar: added('ttft', 'routecar'),
      floor: added('ttft', 'floor'),
      floorB: added('ttft', 'floorB'),
    },
    streamLoadRssMb: {
      ...per((r) => r.streamLoad.rssMaxMb),
      max: Math.max(...rounds.map((r) => r.streamLoad.rssMaxMb)),
    },
    idleRssMb: {
      routecar: per((r) => r.startup.idleRssMb.routecar),
      floor: per((r) => r.startup.idleRssMb.floor),
    },
    readyMs: { routecar: per((r) => r.startup.readyMs.routecar), floor: per((r) => r.startup.readyMs.floor) },
    decisionUs: spread(decision.usPerDecision),
    tracesVsOff: ratio('json', 'traced', 'routecar'),
    tracesCpuVsOff: cpu('json', 'traced', 'routecar'),
  };
  // Absolute figures, for the tables: medians over rounds.
  const abs = (kind) =>
    Object.fromEntries(
      Object.keys(rounds[0].runs[kind]).map((n) => [
        n,
        {
          rps: spread(rounds.map((r) => r.runs[kind][n].rps)),
          proxyCpuUs:
            n === 'direct' ? undefined : spread(rounds.map((r) => r.runs[kind][n].cpuUsPerRequest.proxy)),
          upstreamCpuUs: spread(rounds.map((r) => r.runs[kind][n].cpuUsPerRequest.upstream)),
          rssMaxMb: n === 'direct' ? undefined : spread(rounds.map((r) => r.runs[kind][n].rssMaxMb)),
          loadGeneratorCpuPct: spread(rounds.map((r) => r.runs[kind][n].loadGeneratorCpuPct)),
        },
      ]),
    );
  const seqAbs = (which) =>
    Object.fromEntries(
      Object.keys(rounds[0][which]).map((n) => [
        n,
        { p50: spread(rounds.map((r) => r[which][n].p50)), p99: spread(rounds.map((r) => r[which][n].p99)) },
      ]),
    );
  return {
    meta: {
      date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
      mode: opts.quick ? 'quick' : 'full',
      routecar: opts['routecar-main'],
      node: process.versions.node,
      nodeFlags: SHIPPED_NODE_FLAGS,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
      pinning: PIN ?? 'none (taskset missing or one core)',
      jsonBodyBytes: JSON_REQ.body.length,
      loadAverage: { before: loadBefore, after: os.loadavg()[0] },
      wallS,
      otlpSinkPosts: sinkPosts,
      ...SETTINGS,
    },
    figures,
    throughput: { json: abs('json'), stream: abs('stream') },
    latency: seqAbs('latency'),
    ttft: seqAbs('ttft'),
    decision,
    rounds,
  };
}

/**
 * --profile: routecar alone under --cpu-prof, JSON throughput (warm-up, then one measured run),
 * pinned like the bench. The profile is written when routecar exits; its summary is printed.
 */
async function profileRun(tmp) {
  const t = SETTINGS.throughput;
  const upstream = await startNode(
    'upstream',
    [path.join(ROOT, 'dist/src/demo/main.js'), ...'--port 0 --name bench-upstream --latency-ms 0'.split(' ')],
    { ready: (out) => /listening on (http:\/\/[\d.]+:\d+)/.exec(out)?.[1], pin: PIN?.upstream },
  );
  const policyFile = path.join(tmp, 'policy.yaml');
  writeFileSync(policyFile, benchPolicy(upstream.readyValue));
  rmSync(PROFILE_DIR, { recursive: true, force: true });
  const { proc, url } = await startRoutecar('routecar', {
    main: ROUTECAR_MAIN,
    policyFile,
    pin: PIN?.proxy,
    extraFlags: ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`],
    env: routecarEnv(tmp, 'profile'),
  });
  const target = makeTarget('routecar', url);
  log(`profile: warm-up ${t.warmupS} s, then ${t.durationS * 2} s under --cpu-prof...`);
  await throughput(target, { ...JSON_REQ, durationS: t.warmupS, connections: t.connections });
  const result = await throughput(target, {
    ...JSON_REQ,
    durationS: t.durationS * 2,
    connections: t.connections,
  });
  log(`profile: routecar ${result.rps.toFixed(0)} req/s (profiler on)`);
  await stop(proc);
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
