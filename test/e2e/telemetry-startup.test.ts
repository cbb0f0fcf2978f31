/**
 * What telemetry loads, by configuration: routecar runs in every pod, so the OTLP exporters and
 * the trace SDK must not be loaded (nor cost start-up time and memory) unless configured. A
 * module hook in the child records every module file it resolves: packages outside the bundle by
 * their node_modules path, and those inside it through the source map of each bundle chunk loaded.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useFakeUpstreams, type FakeUpstream } from '../support/fake-upstream.js';
import { useProcesses } from '../support/processes.js';
import { startRoutecar } from '../support/routecar.js';

const procs = useProcesses(afterAll);
const startUpstream = useFakeUpstreams(afterAll);

const HOOK = `
import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
const out = process.env.ROUTECAR_TEST_MODULE_LOG;
registerHooks({
  resolve(specifier, context, nextResolve) {
    const result = nextResolve(specifier, context);
    if (result.url.startsWith('file:')) appendFileSync(out, result.url + '\\n');
    return result;
  },
});
`;

let dir: string;
let upstream: FakeUpstream;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'routecar-modules-'));
  await writeFile(join(dir, 'hook.mjs'), HOOK);
  upstream = await startUpstream({ name: 'plain' });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Starts routecar with `env`, sends one request carrying `traceparent`, stops it; returns the packages it loaded. */
async function run(name: string, env: Record<string, string>, traceparent: string) {
  const log = join(dir, `${name}.log`);
  await writeFile(log, '');
  const routecar = await startRoutecar({
    group: procs,
    name: `routecar (${name})`,
    env: {
      NODE_OPTIONS: `--import=${pathToFileURL(join(dir, 'hook.mjs')).href}`,
      ROUTECAR_TEST_MODULE_LOG: log,
      ...env,
    },
    policy: {
      version: 1,
      backends: { plain: { url: upstream.baseURL, model: 'model-plain', price: { input: 1, output: 1 } } },
      routes: { chat: { backends: ['plain'] } },
    },
  });
  try {
    const res = await fetch(`${routecar.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent },
      body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const metrics = await fetch(`${routecar.adminUrl}/metrics`);
    await metrics.arrayBuffer();
    const upstreamTraceparent = upstream.stats.lastRequest?.headers['traceparent'];
    const packages = await packagesIn((await readFile(log, 'utf8')).split('\n'));
    return { packages, metricsStatus: metrics.status, upstreamTraceparent };
  } finally {
    await routecar.stop();
  }
}

const PACKAGE = /node_modules\/(@[^/]+\/[^/]+|[^/]+)\//;

/** The packages the module files at `urls` come from, looking into bundle chunks' source maps. */
async function packagesIn(urls: readonly string[]): Promise<Set<string>> {
  const packages = new Set<string>();
  for (const url of urls) {
    if (!url.startsWith('file:')) continue;
    const path = fileURLToPath(url);
    // A bundle chunk names its modules in its map; the bundler's own runtime chunk has none.
    const map = `${path}.map`;
    const sources = !path.includes('/dist/bundle/')
      ? [path]
      : existsSync(map)
        ? (JSON.parse(await readFile(map, 'utf8')) as { sources: string[] }).sources
        : [];
    for (const source of sources) {
      const name = PACKAGE.exec(source)?.[1];
      if (name !== undefined) packages.add(name);
    }
  }
  return packages;
}

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
/** The packages of each OTLP protocol (the metrics ones of proto and grpc build on the http one). */
const BY_PROTOCOL = {
  'http/protobuf': [
    '@opentelemetry/exporter-metrics-otlp-proto',
    '@opentelemetry/exporter-trace-otlp-proto',
    '@opentelemetry/otlp-exporter-base',
  ],
  grpc: [
    '@opentelemetry/exporter-metrics-otlp-grpc',
    '@opentelemetry/exporter-trace-otlp-grpc',
    '@opentelemetry/otlp-grpc-exporter-base',
    '@grpc/grpc-js',
  ],
  'http/json': [
    '@opentelemetry/exporter-metrics-otlp-http',
    '@opentelemetry/exporter-trace-otlp-http',
    '@opentelemetry/otlp-exporter-base',
  ],
} as const;
const LAZY = ['@opentelemetry/sdk-trace', ...new Set(Object.values(BY_PROTOCOL).flat())];

describe('what telemetry loads', () => {
  it('by default serves Prometheus metrics without loading the trace SDK or any OTLP exporter, and passes the app’s traceparent on untouched', async () => {
    const r = await run('default', {}, TRACEPARENT);
    expect(r.packages).toContain('@opentelemetry/sdk-metrics');
    expect(r.packages).toContain('@opentelemetry/exporter-prometheus');
    for (const p of LAZY) expect(r.packages, p).not.toContain(p);
    expect(r.metricsStatus).toBe(200);
    expect(r.upstreamTraceparent).toBe(TRACEPARENT);
  });

  it('loads the trace SDK and the http/protobuf exporters once OTLP is configured, and then sends its own span upstream', async () => {
    const r = await run(
      'otlp',
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_BSP_SCHEDULE_DELAY: '60000' },
      TRACEPARENT,
    );
    expect(r.packages).toContain('@opentelemetry/sdk-trace');
    for (const p of BY_PROTOCOL['http/protobuf']) expect(r.packages, p).toContain(p);
    for (const p of [...BY_PROTOCOL.grpc, '@opentelemetry/exporter-trace-otlp-http'])
      expect(r.packages, p).not.toContain(p);
    expect(r.upstreamTraceparent).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    expect(r.upstreamTraceparent).not.toBe(TRACEPARENT);
  });

  it.each(['grpc', 'http/json'] as const)(
    'with OTEL_EXPORTER_OTLP_PROTOCOL=%s loads that protocol’s exporters and not the others',
    async (protocol) => {
      const r = await run(
        protocol.replace('/', '-'),
        {
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
          OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
          OTEL_BSP_SCHEDULE_DELAY: '60000',
        },
        TRACEPARENT,
      );
      for (const p of BY_PROTOCOL[protocol]) expect(r.packages, p).toContain(p);
      const others = (Object.keys(BY_PROTOCOL) as (keyof typeof BY_PROTOCOL)[])
        .filter((k) => k !== protocol)
        .flatMap((k) => BY_PROTOCOL[k])
        // The proto and grpc metric exporters build on the http one and its base.
        .filter(
          (p) =>
            !(BY_PROTOCOL[protocol] as readonly string[]).includes(p) &&
            p !== '@opentelemetry/exporter-metrics-otlp-http' &&
            p !== '@opentelemetry/otlp-exporter-base',
        );
      for (const p of others) expect(r.packages, p).not.toContain(p);
    },
  );

  it('with OTEL_SDK_DISABLED=true loads no OpenTelemetry package at all and serves no /metrics', async () => {
    const r = await run('disabled', { OTEL_SDK_DISABLED: 'true' }, TRACEPARENT);
    expect([...r.packages].filter((p) => p.startsWith('@opentelemetry/'))).toEqual([]);
    expect(r.metricsStatus).toBe(404);
    expect(r.upstreamTraceparent).toBe(TRACEPARENT);
  });
});
