/**
 * Turns the raw results into the targets check, a console table and the markdown block that
 * goes between `<!-- bench:start -->` and `<!-- bench:end -->` in docs/benchmarks.md.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';

/** The targets docs/benchmarks.md states, checked against one run. */
export function checkTargets(r) {
  return [
    {
      name: 'throughput ≥ 0.8× bare express + http-proxy-middleware',
      value: `${r.throughput.ratioRoutecarBaseline.toFixed(2)}×`,
      met: r.throughput.ratioRoutecarBaseline >= 0.8,
    },
    {
      name: 'added latency p50 ≤ 0.4 ms (concurrency 1)',
      value: `${ms(r.latency.added.routecar.p50)} ms`,
      met: r.latency.added.routecar.p50 <= 0.4,
    },
    {
      name: 'RSS under load ≤ 120 MB',
      value: `${r.rss.routecar.loadMaxMb.toFixed(1)} MB`,
      met: r.rss.routecar.loadMaxMb <= 120,
    },
  ];
}

const ms = (v) => (v === undefined ? '–' : v.toFixed(3));
const signed = (v) => (v >= 0 ? '+' : '−') + Math.abs(v).toFixed(3);
const k = (v) => `${(v / 1000).toFixed(2)}k`;

/** Markdown tables of one run (also printed to the console: they read fine as plain text). */
export function markdown(r) {
  const names = ['direct', 'baseline', 'routecar'];
  const label = { direct: 'direct to upstream', baseline: 'baseline (express + hpm)', routecar: 'routecar' };
  const lines = [];
  const m = r.meta;
  lines.push(
    `Run of ${m.date} · ${m.mode} mode · Node ${m.node} · ${m.cpus} × ${m.cpuModel} · ` +
      `latency ${m.latency.count} req/target after ${m.latency.warmup} warm-up · ` +
      `TTFT ${m.ttft.count} streams/target · throughput ${m.throughput.rounds} round(s) × ${m.throughput.durationS} s, ` +
      `${m.throughput.connections} connections · request body ${m.bodyBytes} B`,
    ...(m.loadAverage.before >= 1
      ? [
          '',
          `> Measured while other processes were busy (1-minute load average ${m.loadAverage.before.toFixed(1)} on ${m.cpus} cores ` +
            'before the run): absolute figures are low and noisy; the ratios, measured side by side, say more.',
        ]
      : []),
    '',
    '**Targets**',
    '',
    '| target | measured | met |',
    '|---|---|---|',
    ...r.targets.map((t) => `| ${t.name} | ${t.value} | ${t.met ? 'yes' : '**no**'} |`),
    '',
    '**Latency at concurrency 1** (non-streaming chat completion, full response, ms)',
    '',
    '| | p50 | p90 | p99 | mean | added p50 | added p99 |',
    '|---|---|---|---|---|---|---|',
  );
  for (const n of names) {
    const s = r.latency[n];
    const a = r.latency.added[n];
    lines.push(
      `| ${label[n]} | ${ms(s.p50)} | ${ms(s.p90)} | ${ms(s.p99)} | ${ms(s.mean)} | ${a ? signed(a.p50) : ''} | ${a ? signed(a.p99) : ''} |`,
    );
  }
  lines.push(
    '',
    '**Streaming: time to first `data:` chunk** (concurrency 1, ms)',
    '',
    '| | p50 | p90 | p99 | added p50 | added p99 |',
    '|---|---|---|---|---|---|',
  );
  for (const n of names) {
    const s = r.ttft[n];
    const a = r.ttft.added[n];
    lines.push(
      `| ${label[n]} | ${ms(s.p50)} | ${ms(s.p90)} | ${ms(s.p99)} | ${a ? signed(a.p50) : ''} | ${a ? signed(a.p99) : ''} |`,
    );
  }
  lines.push(
    '',
    `**Throughput at ${m.throughput.connections} connections** (median of the rounds; autocannon latency in ms; CPU = µs of CPU time per request)`,
    '',
    '| | req/s | per round | vs direct | latency p50 | latency p99 | proxy CPU/req | upstream CPU/req | RSS idle | RSS max under load |',
    '|---|---|---|---|---|---|---|---|---|---|',
  );
  const us = (v) => (v === undefined ? '–' : `${v.toFixed(0)} µs`);
  const mb = (v) => (v === undefined ? '–' : `${v.toFixed(1)} MB`);
  for (const n of names) {
    const t = r.throughput[n];
    const rss = r.rss[n] ?? {};
    lines.push(
      `| ${label[n]} | ${k(t.rps)} | ${t.runs.map((x) => k(x.rps)).join(' / ')} | ${(t.rps / r.throughput.direct.rps).toFixed(2)}× | ` +
        `${t.latencyP50Ms} | ${t.latencyP99Ms} | ${us(t.proxyCpuUsPerRequest)} | ${us(t.upstreamCpuUsPerRequest)} | ${mb(rss.idleMb)} | ${mb(rss.loadMaxMb)} |`,
    );
  }
  const tp = r.throughput;
  lines.push(
    '',
    `routecar / baseline throughput: **${tp.ratioRoutecarBaseline.toFixed(2)}×** (rounds: ${tp.roundRatios.map((x) => x.toFixed(2)).join(', ')}) · ` +
      `CPU per request, routecar / baseline: ${tp.cpuRatioRoutecarBaseline.toFixed(2)}× · ` +
      `load generator CPU: ${tp.direct.loadGeneratorCpuPct.toFixed(0)}% (direct), ${tp.routecar.loadGeneratorCpuPct.toFixed(0)}% (routecar) · ` +
      `RSS after the run, idle: routecar ${mb(r.rss.routecar.afterMb)}, baseline ${mb(r.rss.baseline.afterMb)} · ` +
      `1-min load average before/after: ${m.loadAverage.before.toFixed(2)} / ${m.loadAverage.after.toFixed(2)}`,
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
