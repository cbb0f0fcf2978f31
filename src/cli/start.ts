/**
 * `routecar start` once its settings are resolved (run.ts): starts the runtime (and the demo
 * backends when asked and needed), and turns SIGTERM/SIGINT into a graceful drain. A second
 * signal exits at once.
 */
import net from 'node:net';
import { DEMO_REQUEST_BODY, demoServingBackend } from '../demo/demo-request.js';
import { CanaryGuardWatch } from '../canary/guard-watch.js';
import { BanditFeed } from '../feedback/bandit-feed.js';
import { feedbackHandler } from '../feedback/feedback.js';
import { RequestMemory } from '../feedback/memory.js';
import { rememberRequests } from '../feedback/remember.js';
import type { CompiledPolicy } from '../policy/types.js';
import { startRuntime, type Runtime } from '../server/runtime.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { telemetrySettings } from '../telemetry/settings.js';
import type { Telemetry } from '../telemetry/setup.js';
import type { RuntimeConfig } from './config.js';

/** Starts routecar with `config`, which names a policy source; resolves once it serves. */
export async function startCommand(config: RuntimeConfig): Promise<number> {
  const logger = createLogger();
  const telemetry = await startTelemetry(logger, config.zone);
  // Request id -> (route, backend, variant) for POST /v1/feedback (15 min, 100k ids).
  const memory = new RequestMemory();
  // Routes with `bandit` learn from attempt outcomes and feedback.
  const serving: { runtime?: Runtime } = {};
  const bandit = new BanditFeed(() => serving.runtime?.store.current());
  // Canary specs in Consul arm every sidecar's local guard (issue 10).
  const guards = config.consul
    ? new CanaryGuardWatch({
        baseUrl: config.consul.baseUrl,
        token: config.consul.token,
        prefix: config.consul.prefix,
        log: (msg, fields) => logger.warn({ component: 'canary-guard', ...fields }, msg),
      })
    : undefined;
  await guards?.start();
  const runtime = await startRuntime({
    config,
    logger,
    observers: [...(telemetry?.observers ?? []), rememberRequests(memory), bandit.observer],
    metrics: telemetry?.metricsHandler,
    bandit: (route) => bandit.view(route),
    banditState: () => bandit.snapshot(),
    localGuard: guards,
    feedback: feedbackHandler({
      memory,
      onFeedback: (e) => {
        telemetry?.recordFeedback(e);
        bandit.feedback(e);
      },
    }),
  });
  serving.runtime = runtime;
  telemetry?.attach(runtime);
  telemetry?.attachBandit(bandit);
  if (guards) telemetry?.attachCanaryGuards({ status: () => guards.status(runtime.health.lookup) });
  const policy = runtime.store.current();
  const demo = config.demo && policy ? await startDemoBackends(policy, runtime, logger) : undefined;
  const base = `http://${runtime.listen.host}:${runtime.listen.port}`;
  logger.info(
    {
      listen: base,
      admin: `http://${runtime.adminListen.host}:${runtime.adminListen.port}`,
      policyVersion: policy?.version,
    },
    'routecar ready',
  );
  if (demo) printDemoHelp(base, runtime, demo.description);
  handleSignals(runtime, config, logger, async () => {
    await demo?.close();
    guards?.stop();
    await telemetry?.shutdown();
  });
  return 0;
}

/**
 * Telemetry as the OTEL_* variables ask (docs/metrics.md). With OTEL_SDK_DISABLED=true nothing of
 * the SDK is even loaded, hence the dynamic import.
 */
async function startTelemetry(logger: Logger, zone: string | undefined): Promise<Telemetry | undefined> {
  const settings = telemetrySettings(process.env);
  if (!settings.enabled) {
    logger.info({ component: 'telemetry' }, 'telemetry disabled (OTEL_SDK_DISABLED=true)');
    return undefined;
  }
  const { startTelemetry: start } = await import('../telemetry/setup.js');
  // The zone goes on every metric and span as `cloud.availability_zone`.
  const telemetry = await start(settings, logger, { zone });
  logger.info({ component: 'telemetry', ...telemetry.summary }, 'telemetry started');
  return telemetry;
}

interface DemoHandle {
  readonly description: string;
  close(): Promise<void>;
}

/** Starts fake model servers for the policy's loopback backends that nobody answers on. */
async function startDemoBackends(
  policy: CompiledPolicy,
  runtime: Runtime,
  logger: Logger,
): Promise<DemoHandle | undefined> {
  const { DEMO_FLEET, startDemoFleet } = await import('../demo/fleet.js');
  const specs = [];
  let i = 0;
  for (const backend of policy.backends.values()) {
    const url = new URL(backend.baseUrl);
    const port = Number(url.port || 80);
    // The demo profile living on the same port in the bundled fleet, so default.yaml's small model is the fast one.
    const profile = DEMO_FLEET.find((spec) => spec.port === port) ?? DEMO_FLEET[i % DEMO_FLEET.length]!;
    i++;
    if (!['127.0.0.1', 'localhost'].includes(url.hostname) || (await reachable(url.hostname, port))) continue;
    specs.push({
      ...profile,
      name: backend.name,
      port,
      host: url.hostname === 'localhost' ? '127.0.0.1' : url.hostname,
    });
  }
  if (specs.length === 0) return undefined;
  try {
    const busiest = demoServingBackend(policy, runtime.health.lookup, Date.now());
    const fleet = await startDemoFleet(specs, { busiest });
    logger.info({ backends: specs.map((s) => s.name), control: fleet.controlUrl }, 'demo backends started');
    return fleet;
  } catch (err) {
    logger.warn({ error: (err as Error).message }, 'demo backends could not start');
    return undefined;
  }
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 300 });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

function printDemoHelp(base: string, runtime: Runtime, fleet: string): void {
  const admin = `http://${runtime.adminListen.host}:${runtime.adminListen.port}`;
  process.stderr.write(`
routecar is serving ${base}/v1 with demo backends.

Try it:
  curl -s ${base}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"model":"chat","messages":[{"role":"user","content":"hello"}]}'

Watch failover: keep a loop of requests running, take a backend down, and see the traffic move
(response header x-routecar-backend) and its breaker open in ${admin}/admin/state.
  while true; do curl -s -o /dev/null -w '%{http_code} ' -D - ${base}/v1/chat/completions \\
    -H 'content-type: application/json' -d '${DEMO_REQUEST_BODY}' \\
    | grep -i x-routecar-backend; sleep 0.2; done

${fleet}
`);
}

function handleSignals(
  runtime: Runtime,
  config: RuntimeConfig,
  logger: Logger,
  closeRest: () => Promise<void>,
): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, deadlineMs: config.drainTimeoutMs }, 'draining');
    runtime
      .drain(config.drainTimeoutMs)
      .then(closeRest)
      .then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ error: (err as Error).message }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
