/**
 * What telemetry costs: routecar's throughput with telemetry off, with metrics (the default:
 * Prometheus on /metrics, scraped every second while the load runs), and with metrics plus
 * traces (every request sampled, exported over OTLP/HTTP to a sink in this process). Target:
 * metrics cost at most 10% of throughput.
 *
 *   npm run build && node bench/telemetry.js            # 5 rounds × 4 s per variant (about 1.5 minutes)
 *   node bench/telemetry.js --quick                     # 1 round × 3 s (about 20 s)
 *   node bench/telemetry.js --write-doc                 # also write the table into docs/benchmarks.md
 *
 * Processes: one zero-latency fake upstream, three routecar processes (one per variant), and
 * this one as load generator (autocannon, 32 connections, the same ~1 KB chat request as
 * bench/run.js). Only one routecar is under load at a time; variants alternate order by round.
 */
/* global fetch */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { makeTarget, throughput } from './lib/measure.js';
import { rssMb, startNode, startRoutecar, stop, stopAll } from './lib/procs.js';
import { benchPolicy, chatBody } from './lib/workload.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'write-doc': { type: 'boolean', default: false },
  },
});
const SETTINGS = opts.quick
  ? { rounds: 1, warmupS: 1, durationS: 3, connections: 32 }
  : { rounds: 5, warmupS: 1, durationS: 4, connections: 32 };

const MARK = { start: '<!-- bench-telemetry:start -->', end: '<!-- bench-telemetry:end -->' };

/** The variants, by the environment that makes them. */
const VARIANTS = [
  { name: 'off', label: 'telemetry off (OTEL_SDK_DISABLED=true)', env: { OTEL_SDK_DISABLED: 'true' } },
  { name: 'metrics', label: 'metrics (Prometheus, scraped every 1 s)', env: {}, scrape: true },
  {
    name: 'traces',
    label: 'metrics + traces (every request, OTLP/HTTP)',
    env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'always_on', OTEL_BSP_SCHEDULE_DELAY: '500' },
    scrape: true,
    otlp: true,
  },
];

/** Accepts OTLP/HTTP posts (any protocol's encoding) and throws them away, counting bytes received. */
function startSink() {
  let bytes = 0;
  const server = http.createServer((req, res) => {
    req.on('data', (c) => (bytes += c.length));
    req.on('end', () => {
      // An empty export response in the request's own encoding: valid for http/protobuf (the
      // default protocol) and http/json alike.
      res.writeHead(200, { 'content-type': req.headers['content-type'] });
      res.end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${server.address().port}`, server, bytes: () => bytes }),
    ),
  );
}

async function main() {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'routecar-bench-telemetry-'));
  const sink = await startSink();
  try {
    const upstream = await startNode(
      'upstream',
      [
        path.join(ROOT, 'dist/src/demo/main.js'),
        '--port',
        '0',
        '--name',
        'bench-upstream',
        '--latency-ms',
        '0',
      ],
      { ready: (out) => /listening on (http:\/\/[\d.]+:\d+)/.exec(out)?.[1] },
    );
    const policyFile = path.join(tmp, 'policy.yaml');
    writeFileSync(policyFile, benchPolicy(upstream.readyValue));

    const startVariant = async (v, extraFlags = []) => {
      const env = {
        ROUTECAR_STATE_DIR: path.join(tmp, `state-${v.name}`),
        ROUTECAR_LOG_LEVEL: 'warn',
        ROUTECAR_DRAIN_TIMEOUT_MS: '3000',
        // Nothing inherited from the shell may switch telemetry on or off behind the variant's back
        // (spawn drops variables whose value is undefined).
        ...Object.fromEntries(
          Object.keys(process.env)
            .filter((k) => k.startsWith('OTEL_'))
            .map((k) => [k, undefined]),
        ),
        // Traces go to the sink; metrics stay on Prometheus only, so the row isolates the cost of tracing.
        ...(v.otlp ? { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_METRICS_EXPORTER: 'prometheus' } : {}),
        ...v.env,
      };
      const { proc, url, adminUrl } = await startRoutecar(`routecar-${v.name}`, {
        main: path.join(ROOT, 'dist/src/cli/main.js'),
        policyFile,
        env,
        extraFlags,
      });
      return {
        ...v,
        proc,
        target: makeTarget(v.name, url),
        metricsUrl: `${adminUrl}/metrics`,
      };
    };
    const running = [];
    for (const v of VARIANTS) running.push(await startVariant(v));

    const body = chatBody();
    const results = Object.fromEntries(VARIANTS.map((v) => [v.name, []]));
    // CPU time routecar spends per request: steadier than throughput on a machine shared with other work.
    const cpu = Object.fromEntries(VARIANTS.map((v) => [v.name, []]));
    for (let round = 0; round < SETTINGS.rounds; round++) {
      const order = round % 2 === 0 ? running : [...running].reverse();
      for (const r of order) {
        log(`${r.name}: round ${round + 1}/${SETTINGS.rounds}, ${SETTINGS.durationS} s...`);
        await throughput(r.target, { body, durationS: SETTINGS.warmupS, connections: SETTINGS.connections });
        const scrape = r.scrape ? scraper(r.metricsUrl) : undefined;
        try {
          const cpuBefore = cpuMs(r.proc.pid);
          const run = await throughput(r.target, {
            body,
            durationS: SETTINGS.durationS,
            connections: SETTINGS.connections,
          });
          results[r.name].push(run.rps);
          cpu[r.name].push(((cpuMs(r.proc.pid) - cpuBefore) * 1000) / run.requests);
        } finally {
          if (scrape) clearInterval(scrape);
        }
      }
    }

    // Where the CPU goes with metrics on: the profile attributes it to code, whatever else runs on the machine.
    log(`metrics, under a CPU profile: ${SETTINGS.durationS * 2} s...`);
    const profileDir = path.join(tmp, 'profile');
    const profiled = await startVariant(VARIANTS[1], ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]);
    await throughput(profiled.target, {
      body,
      durationS: SETTINGS.warmupS,
      connections: SETTINGS.connections,
    });
    const profileScrape = scraper(profiled.metricsUrl);
    await throughput(profiled.target, {
      body,
      durationS: SETTINGS.durationS * 2,
      connections: SETTINGS.connections,
    });
    clearInterval(profileScrape);
    await stop(profiled.proc);
    const share = telemetryShare(
      path.join(
        profileDir,
        readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile')),
      ),
    );

    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const off = median(results.off);
    const offCpu = median(cpu.off);
    const rows = running.map((r) => {
      const rps = median(results[r.name]);
      const cpuUs = median(cpu[r.name]);
      return {
        name: r.name,
        label: r.label,
        rps,
        perRound: results[r.name],
        vsOff: rps / off,
        cpuUsPerRequest: cpuUs,
        cpuVsOff: cpuUs / offCpu,
        rssMb: rssMb(r.proc.pid),
      };
    });
    const metricsRow = rows.find((r) => r.name === 'metrics');
    const metricsCost = 1 - metricsRow.vsOff;
    const metricsCpuCost = metricsRow.cpuVsOff - 1;
    const block = [
      `Run of ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · ${opts.quick ? 'quick mode' : 'full mode'} · Node ${process.versions.node} · ${os.cpus().length} × ${os.cpus()[0]?.model.split(' ').slice(0, 2).join(' ')} · ${SETTINGS.rounds} round(s) × ${SETTINGS.durationS} s, ${SETTINGS.connections} connections, non-streaming chat completion`,
      '',
      '| routecar | req/s (median) | per round | vs off | CPU per request | vs off | RSS after |',
      '|---|---|---|---|---|---|---|',
      ...rows.map(
        (r) =>
          `| ${r.label} | ${(r.rps / 1000).toFixed(2)}k | ${r.perRound.map((x) => (x / 1000).toFixed(2) + 'k').join(' / ')} | ${r.vsOff.toFixed(3)}× | ${r.cpuUsPerRequest.toFixed(0)} µs | ${r.cpuVsOff.toFixed(3)}× | ${r.rssMb?.toFixed(1)} MB |`,
      ),
      '',
      `Metrics cost **${(metricsCost * 100).toFixed(1)}%** of throughput and ${(metricsCpuCost * 100).toFixed(1)}% more CPU per request (target ≤ 10% of throughput: ${metricsCost <= 0.1 ? 'met' : '**not met**'}).`,
      `Under a CPU profile with metrics on and a scrape every second, telemetry code (routecar's src/telemetry and @opentelemetry/*) takes **${(share * 100).toFixed(2)}%** of routecar's busy CPU time.`,
    ].join('\n');
    console.log(`\n${block}\n`);
    mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(
      path.join(ROOT, 'bench', 'results', 'telemetry.json'),
      JSON.stringify(
        { settings: SETTINGS, rows, metricsCost, metricsCpuCost, profileTelemetryShare: share },
        null,
        2,
      ),
    );
    if (opts['write-doc']) {
      writeBlock(path.join(ROOT, 'docs', 'benchmarks.md'), block);
      log('wrote bench/results/telemetry.json and docs/benchmarks.md');
    } else {
      log('wrote bench/results/telemetry.json');
    }
  } finally {
    sink.server.close();
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** A Prometheus scraping every second, as in production (scrapes cost the proxy CPU too). */
function scraper(url) {
  return setInterval(
    () =>
      void fetch(url)
        .then((res) => res.text())
        .catch(() => {}),
    1000,
  );
}

/** Share of the busy (non-idle) samples of a .cpuprofile spent in telemetry code. */
function telemetryShare(file) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  let busy = 0;
  let telemetry = 0;
  for (const id of profile.samples) {
    const { url, functionName } = byId.get(id).callFrame;
    if (functionName === '(idle)') continue;
    busy++;
    if (url.includes('/dist/src/telemetry/') || url.includes('/node_modules/@opentelemetry/')) telemetry++;
  }
  return telemetry / busy;
}

/** User plus system CPU time of a process so far, ms (from /proc; clock ticks are 10 ms on Linux). */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // After the command name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Replaces the block between this script's markers in `file` (appends it when there are none). */
function writeBlock(file, block) {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const marked = `${MARK.start}\n${block}\n${MARK.end}`;
  const i = text.indexOf(MARK.start);
  const j = text.indexOf(MARK.end);
  writeFileSync(
    file,
    i >= 0 && j > i ? text.slice(0, i) + marked + text.slice(j + MARK.end.length) : `${text}\n${marked}\n`,
  );
}

function log(message) {
  process.stderr.write(`[bench:telemetry] ${message}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
