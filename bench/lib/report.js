/**
 * Turns the raw results into the targets check, a console table and the markdown block that
 * goes between `<!-- bench:start -->` and `<!-- bench:end -->` in docs/benchmarks.md.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';

/** Median, min and max of per-round values (`n` of them). */
export function spread(values) {
  const s = [...values].sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { median, min: s[0], max: s[s.length - 1], n: s.length };
}

const x2 = (v) => `${v.toFixed(2)}×`;
const x3 = (v) => `${v.toFixed(3)}×`;
const ms3 = (v) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(3)} ms`;
const mb = (v) => `${v.toFixed(1)} MB`;
const msInt = (v) => `${v.toFixed(0)} ms`;
const us2 = (v) => `${v.toFixed(2)} µs`;
/** `median (min–max)` of a spread, each value formatted by `f`. */
const fmt = (sp, f) => `${f(sp.median)} (${f(sp.min)} – ${f(sp.max)})`;

/** Issue 13's targets, checked against one run (on the median of the rounds unless said otherwise). */
export function checkTargets(r) {
  const f = r.figures;
  return [
    {
      name: 'throughput vs floor, JSON (≥ 0.85×, stretch 1.0×)',
      value: fmt(f.throughputJson, x2),
      aa: fmt(f.aaThroughputJson, x2),
      met: f.throughputJson.median >= 0.85,
    },
    {
      name: 'throughput vs floor, streaming (≥ 0.85×, stretch 1.0×)',
      value: fmt(f.throughputStream, x2),
      aa: fmt(f.aaThroughputStream, x2),
      met: f.throughputStream.median >= 0.85,
    },
    {
      name: 'CPU per request vs floor, JSON (≤ 1.2×)',
      value: `${fmt(f.cpuJson, x2)}; streaming ${fmt(f.cpuStream, x2)}`,
      aa: fmt(f.aaCpuJson, x2),
      met: f.cpuJson.median <= 1.2,
    },
    {
      name: "added p50 at 1 connection (≤ floor's + 0.05 ms)",
      value: `${fmt(f.addedP50OverFloor, ms3)} over the floor's (routecar ${ms3(f.addedP50.routecar.median)}, floor ${ms3(f.addedP50.floor.median)})`,
      aa: fmt(f.aaAddedP50, ms3),
      met: f.addedP50OverFloor.median <= 0.05,
    },
    {
      name: 'added TTFT p50, streaming (≤ +0.5 ms)',
      value: `${fmt(f.addedTtftP50.routecar, ms3)} (floor ${ms3(f.addedTtftP50.floor.median)})`,
      aa: `floor-b ${ms3(f.addedTtftP50.floorB.median)}`,
      met: f.addedTtftP50.routecar.median <= 0.5,
    },
    {
      name: `RSS under ${r.meta.streamLoadS} s of streaming load, max over ${f.streamLoadRssMb.n} runs (≤ 150 MB, stretch 120 MB)`,
      value: `${mb(f.streamLoadRssMb.max)} (runs: ${r.rounds.map((x) => x.streamLoad.rssMaxMb.toFixed(1)).join(', ')})`,
      aa: '',
      met: f.streamLoadRssMb.max <= 150,
    },
    {
      name: 'idle RSS (≤ 85 MB)',
      value: `${fmt(f.idleRssMb.routecar, mb)} (floor ${mb(f.idleRssMb.floor.median)})`,
      aa: '',
      met: f.idleRssMb.routecar.median <= 85,
    },
    {
      name: 'time to ready, spawn to /readyz 200 (≤ 350 ms)',
      value: `${fmt(f.readyMs.routecar, msInt)} (floor to listening ${msInt(f.readyMs.floor.median)})`,
      aa: '',
      met: f.readyMs.routecar.median <= 350,
    },
    {
      name: 'decision, 20 backends, real health lookup (≤ 5 µs)',
      value: fmt(f.decisionUs, us2),
      aa: '',
      met: f.decisionUs.median <= 5,
    },
    {
      name: 'traces at 1% sampling vs off, JSON throughput (≥ 0.97×)',
      value: `${fmt(f.tracesVsOff, x3)}; CPU per request ${fmt(f.tracesCpuVsOff, x3)}`,
      aa: fmt(f.aaThroughputJson, x3),
      met: f.tracesVsOff.median >= 0.97,
    },
  ];
}

const k = (v) => `${(v / 1000).toFixed(2)}k`;
const ms = (v) => (v === undefined ? '–' : v.toFixed(3));

/** Markdown tables of one run (also printed to the console: they read fine as plain text). */
export function markdown(r) {
  const m = r.meta;
  const lines = [];
  const pin =
    typeof m.pinning === 'string'
      ? m.pinning
      : `load generator and upstream on CPU ${m.pinning.loadgen}, each proxy on CPU ${m.pinning.proxy}`;
  lines.push(
    `Run of ${m.date} · ${m.mode} mode · Node ${m.node} ${m.nodeFlags.join(' ')} · ${m.cpus} × ${m.cpuModel} · ` +
      `${m.rounds} rounds of fresh processes · pinning: ${pin} · throughput ${m.throughput.durationS} s per target per body, ` +
      `${m.throughput.connections} connections · latency ${m.latency.count} req/target, TTFT ${m.ttft.count} streams/target per round · ` +
      `1-min load average before/after ${m.loadAverage.before.toFixed(2)} / ${m.loadAverage.after.toFixed(2)} · ${(m.wallS / 60).toFixed(1)} min`,
    ...(m.loadAverage.before >= 1
      ? [
          '',
          `> Other processes were busy (load average ${m.loadAverage.before.toFixed(1)} on ${m.cpus} cores before the run): ` +
            'absolute figures are low and noisy; the paired ratios and the A/A pair say how far to trust them.',
        ]
      : []),
    '',
    '**Targets** (median of the rounds, min – max in brackets; A/A = the second floor against the first: the noise)',
    '',
    '| figure | measured | A/A | met |',
    '|---|---|---|---|',
    ...r.targets.map((t) => `| ${t.name} | ${t.value} | ${t.aa} | ${t.met ? 'yes' : '**no**'} |`),
    '',
  );
  const label = {
    direct: 'direct to upstream',
    floor: 'floor (express + hpm)',
    floorB: 'floor-b (A/A)',
    routecar: 'routecar',
    traced: 'routecar, traces 1%',
  };
  for (const [kind, title] of [
    ['json', 'JSON chat completion'],
    ['stream', 'streamed chat completion, 16 tokens'],
  ]) {
    lines.push(
      `**Throughput, ${title}** (${m.throughput.connections} connections; medians of the rounds)`,
      '',
      '| | req/s | per round | proxy CPU/req | upstream CPU/req | proxy RSS max |',
      '|---|---|---|---|---|---|',
    );
    for (const [n, t] of Object.entries(r.throughput[kind])) {
      const perRound = r.rounds.map((x) => k(x.runs[kind][n].rps)).join(' / ');
      lines.push(
        `| ${label[n]} | ${k(t.rps.median)} | ${perRound} | ${t.proxyCpuUs ? `${t.proxyCpuUs.median.toFixed(0)} µs` : '–'} | ` +
          `${t.upstreamCpuUs.median.toFixed(0)} µs | ${t.rssMaxMb ? mb(t.rssMaxMb.median) : '–'} |`,
      );
    }
    lines.push('');
  }
  lines.push(
    '**One connection** (ms, medians of the rounds' +
      "'" +
      ' percentiles; latency = full JSON response, TTFT = first `data:` chunk)',
    '',
    '| | latency p50 | latency p99 | TTFT p50 | TTFT p99 |',
    '|---|---|---|---|---|',
  );
  for (const n of Object.keys(r.latency)) {
    lines.push(
      `| ${label[n]} | ${ms(r.latency[n].p50.median)} | ${ms(r.latency[n].p99.median)} | ${ms(r.ttft[n].p50.median)} | ${ms(r.ttft[n].p99.median)} |`,
    );
  }
  lines.push(
    '',
    `Decision microbenchmark: ${r.decision.iterations} decisions per batch, µs per decision by batch: ` +
      `${r.decision.usPerDecision.map((v) => v.toFixed(2)).join(', ')}. ` +
      `RSS of routecar 1 s after the streaming load, by round: ${r.rounds.map((x) => mb(x.streamLoad.afterMb)).join(', ')}. ` +
      `OTLP posts received from the traced routecar: ${m.otlpSinkPosts}.`,
  );
  return lines.join('\n');
}

/** Replaces the block between the markers in `file` (appends a marked block if there is none). */
export async function writeIntoDoc(file, block) {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const marked = `${START}\n\n${block}\n\n${END}`;
  const i = text.indexOf(START);
  const j = text.indexOf(END);
  const next =
    i >= 0 && j > i ? text.slice(0, i) + marked + text.slice(j + END.length) : `${text}\n${marked}\n`;
  writeFileSync(file, await prettierFormat(file, next));
}

/** Writes `value` as JSON, formatted the way `npm run lint` expects. */
export async function writeJson(file, value) {
  writeFileSync(file, await prettierFormat(file, JSON.stringify(value, null, 2)));
}

/** The project's prettier style (tables aligned, JSON arrays folded), so generated files pass `npm run lint`. */
async function prettierFormat(file, text) {
  try {
    const prettier = await import('prettier');
    return await prettier.format(text, { ...(await prettier.resolveConfig(file)), filepath: file });
  } catch {
    return text; // prettier is a devDependency; without it the text is still valid, just not aligned
  }
}
