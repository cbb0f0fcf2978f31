/**
 * The demo fleet: a few fake upstreams with different speed and reliability on fixed ports
 * (the backends of `policies/default.yaml`), plus one control server from which an operator can
 * take any of them down and bring it back, to watch routecar fail over.
 */
import { createServer, type Server } from 'node:http';
import { CONTROL_PREFIX, handleControl } from './control-api.js';
import { startFakeUpstream, type FakeUpstream, type FakeUpstreamOptions } from './fake-upstream.js';
import { closeServer, listen, sendJson } from './http-util.js';
import { openAiError } from './openai-bodies.js';

/** One demo backend: a fake upstream on a fixed port, with a line saying what it imitates. */
export interface DemoBackendSpec extends FakeUpstreamOptions {
  readonly port: number;
  readonly description: string;
}

/**
 * The backends `policies/default.yaml` points at, under the policy's backend names: `npm start`
 * (which names its fakes after the policy) and the compose demo (which runs this list) show the
 * same names in `x-routecar-backend`, the metrics and the control API.
 */
export const DEMO_FLEET: readonly DemoBackendSpec[] = [
  {
    name: 'llama-8b-l4',
    port: 8101,
    latencyMs: 30,
    jitterMs: 20,
    tokenDelayMs: 8,
    description: 'small model: fast, reliable',
  },
  {
    name: 'llama-70b-a100',
    port: 8102,
    latencyMs: 400,
    jitterMs: 200,
    tokenDelayMs: 40,
    description: 'big model: slow first token and slow tokens',
  },
  {
    name: 'qwen-32b-h100',
    port: 8103,
    latencyMs: 80,
    jitterMs: 40,
    tokenDelayMs: 15,
    failureRate: 0.2,
    description: 'mid-size model on a bad node: 20% of requests fail with 500',
  },
];

/** Default port of the fleet's control server. */
export const DEMO_CONTROL_PORT = 8100;

export interface DemoFleetOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Port of the fleet control server; 0 = ephemeral. Default 8100. */
  readonly controlPort?: number;
  /**
   * The backend the description's "take it down" commands name: the one the demo's requests
   * really go to, so taking it down shows a failover. Default: the first upstream.
   */
  readonly busiest?: string;
}

/** A running demo fleet. */
export interface DemoFleet {
  /** The fake upstreams, in spec order. */
  readonly upstreams: readonly FakeUpstream[];
  /** `http://host:port/__control`; `/<name>` under it is that upstream's control API. */
  readonly controlUrl: string;
  /** A short printable description, with `curl` commands to kill a backend and bring it back. */
  readonly description: string;
  /** The upstream called `name`; throws when there is none. */
  get(name: string): FakeUpstream;
  /** Stops the control server and every upstream. */
  close(): Promise<void>;
}

/** Starts every backend of `specs` and the control server; on any failure, stops what started. */
export async function startDemoFleet(
  specs: readonly DemoBackendSpec[] = DEMO_FLEET,
  options: DemoFleetOptions = {},
): Promise<DemoFleet> {
  const host = options.host ?? '127.0.0.1';
  const upstreams: FakeUpstream[] = [];
  let control: Server | undefined;
  const close = async (): Promise<void> => {
    if (control) await closeServer(control);
    await Promise.all(upstreams.map((u) => u.close()));
  };
  try {
    for (const { description: _d, ...spec } of specs)
      upstreams.push(await startFakeUpstream({ host, ...spec }));
    const byName = new Map(upstreams.map((u) => [u.name, u]));
    control = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://fleet').pathname.replace(/\/$/, '');
      if (path === CONTROL_PREFIX && req.method === 'GET') {
        return sendJson(res, 200, { upstreams: upstreams.map((u) => u.state()) });
      }
      const match = /^\/__control\/([^/]+)(\/.*)?$/.exec(path);
      const upstream = match ? byName.get(decodeURIComponent(match[1]!)) : undefined;
      if (!match || !upstream) {
        const names = [...byName.keys()].join(', ');
        return sendJson(
          res,
          404,
          openAiError(`no such control route; upstreams: ${names}`, 'invalid_request_error', 'not_found'),
        );
      }
      void handleControl(upstream, req, res, match[2] ?? '');
    });
    const port = await listen(control, options.controlPort ?? DEMO_CONTROL_PORT, host);
    const controlUrl = `http://${host}:${port}${CONTROL_PREFIX}`;
    return {
      upstreams,
      controlUrl,
      description: describe(upstreams, specs, controlUrl, options.busiest),
      get: (name) => {
        const u = byName.get(name);
        if (!u) throw new Error(`demo fleet: no upstream named ${name}`);
        return u;
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

function describe(
  upstreams: readonly FakeUpstream[],
  specs: readonly DemoBackendSpec[],
  controlUrl: string,
  busiest: string | undefined,
): string {
  const width = Math.max(...upstreams.map((u) => u.name.length));
  const lines = ['Demo backends (fake OpenAI-compatible model servers):'];
  upstreams.forEach((u, i) => {
    const b = u.behaviour;
    const ttfb = b.jitterMs > 0 ? `${b.latencyMs}-${b.latencyMs + b.jitterMs}` : `${b.latencyMs}`;
    const errors = `${Math.round(b.failureRate * 100)}% errors`;
    lines.push(
      `  ${u.name.padEnd(width)}  ${u.baseURL}  first byte ${ttfb} ms, ${b.tokenDelayMs} ms/token, ${errors}  (${specs[i]?.description ?? ''})`,
    );
  });
  const first = upstreams.find((u) => u.name === busiest)?.name ?? upstreams[0]?.name ?? 'NAME';
  const post = (name: string, json: string): string => `curl -s -X POST ${controlUrl}/${name} -d '${json}'`;
  lines.push(
    `Control API: ${controlUrl}  (GET for the state of every backend)`,
    `  take ${first} down (connection refused; it serves the requests above):  ${post(first, '{"mode":"down"}')}`,
    `  bring it back on the same port:  ${post(first, '{"mode":"up"}')}`,
    `  make it answer 429s:  ${post(first, '{"mode":"rateLimit","retryAfterSec":5}')}`,
    `  back to its starting behaviour:  curl -s -X POST ${controlUrl}/${first}/reset`,
  );
  return lines.join('\n');
}
