/**
 * A real Prometheus server for end-to-end tests (the Debian `prometheus` binary on PATH): a
 * temporary config scraping the given targets every second, a temporary TSDB, an ephemeral port,
 * and its HTTP query API. Suites using it go through `describeWith(['prometheus'], ...)`
 * (external.ts), so a machine without the binary skips them; should one call this anyway, it
 * fails at once with the reason rather than waiting for a server that never started.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXTERNAL_TOOLS, findOnPath } from './external-tools.js';
import { getFreePort } from './ports.js';
import { ChildHandle, waitForHttp } from './processes.js';

/** One element of an instant-vector query result. */
export interface VectorSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PrometheusServer {
  readonly url: string;
  readonly child: ChildHandle;
  /** An instant query (`/api/v1/query`); throws unless the result is a vector. */
  query(expr: string): Promise<VectorSample[]>;
  /** Polls `query(expr)` until `predicate` holds; rejects after `timeoutMs` with the last result. */
  waitFor(
    expr: string,
    predicate: (r: VectorSample[]) => boolean,
    timeoutMs?: number,
  ): Promise<VectorSample[]>;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
}

export interface StartPrometheusOptions {
  /** `host:port` of each /metrics endpoint, scraped as job `routecar`. */
  readonly targets: readonly string[];
  /** Default 1. */
  readonly scrapeIntervalS?: number;
}

export async function startPrometheus(options: StartPrometheusOptions): Promise<PrometheusServer> {
  const binary = findOnPath(EXTERNAL_TOOLS.prometheus.command);
  if (binary === undefined) {
    throw new Error(`prometheus is not on PATH (${EXTERNAL_TOOLS.prometheus.install})`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'routecar-prometheus-'));
  const port = await getFreePort();
  const interval = options.scrapeIntervalS ?? 1;
  const config = [
    'global:',
    `  scrape_interval: ${interval}s`,
    `  scrape_timeout: ${Math.round(Math.max(500, interval * 900))}ms`,
    `  evaluation_interval: ${interval}s`,
    'scrape_configs:',
    '  - job_name: routecar',
    '    metrics_path: /metrics',
    '    static_configs:',
    `      - targets: [${options.targets.map((t) => `'${t}'`).join(', ')}]`,
    '',
  ].join('\n');
  await writeFile(join(dir, 'prometheus.yml'), config);
  const proc = spawn(
    binary,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // A spawn failure is an 'error' event with no 'exit': without this it would crash the worker,
  // and the readiness wait would run out its whole timeout.
  const spawnFailed = new Promise<never>((_, reject) =>
    proc.once('error', (err) => reject(new Error(`prometheus (${binary}) could not start: ${err.message}`))),
  );
  spawnFailed.catch(() => {});
  const child = new ChildHandle('prometheus', proc);
  const url = `http://127.0.0.1:${port}`;
  try {
    await Promise.race([waitForHttp(`${url}/-/ready`, { timeoutMs: 20_000, child }), spawnFailed]);
  } catch (err) {
    if (proc.pid !== undefined) await child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  const query = async (expr: string): Promise<VectorSample[]> => {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    if (body.status !== 'success' || !body.data)
      throw new Error(`query ${expr}: ${body.error ?? res.status}`);
    if (body.data.resultType !== 'vector') throw new Error(`query ${expr}: got a ${body.data.resultType}`);
    return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  };

  return {
    url,
    child,
    query,
    async waitFor(expr, predicate, timeoutMs = 15_000) {
      const deadline = performance.now() + timeoutMs;
      let last: VectorSample[];
      for (;;) {
        last = await query(expr);
        if (predicate(last)) return last;
        if (performance.now() > deadline) {
          throw new Error(
            `Prometheus: ${expr} did not meet the condition within ${timeoutMs} ms; last result ${JSON.stringify(last)}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
    async stop() {
      await child.kill('SIGTERM', 3_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
