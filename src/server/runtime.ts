/**
 * Assembles a running routecar: policy store and its sources, health registry, proxy pool, the
 * app-facing and admin listeners, and their orderly shutdown. Policy flows in only through the
 * store; health flows back only through the request observer.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FleetSpendReader } from '../budget/fleet.js';
import { SpendLedger, type LocalSpend } from '../budget/ledger.js';
import { HealthRegistry } from '../health/registry.js';
import { SignalScraper } from '../signals/scraper.js';
import { blendedLookup } from '../fleet/blend.js';
import { FleetView, type FleetSignalSource } from '../fleet/fleet-view.js';
import { parseSelector } from '../policy/selector.js';
import type { SignalLookup } from '../signals/types.js';
import { loadLastGood } from '../policy/last-good.js';
import { FilePolicySource } from '../policy/sources/file.js';
import type { PolicySource } from '../policy/sources/source.js';
import { PolicyStore } from '../policy/store.js';
import type { CompiledPolicy } from '../policy/types.js';
import { combineObservers } from '../proxy/observers.js';
import type { CompiledRoute } from '../policy/types.js';
import type { BanditView } from '../routing/bandit.js';
import type { LocalGuardSpec } from '../routing/local-guard.js';
import type { BackendHealth } from '../health/types.js';
import { ProxyPool } from '../proxy/pool.js';
import type { RequestObserver } from '../proxy/events.js';
import { isLoopback, type ListenAddress, type RuntimeConfig } from './settings.js';
import { requestLog, type Logger } from '../telemetry/logger.js';
import { createAdminApp } from './admin-app.js';
import { HttpDrainer } from './drain.js';
import { refuseMalformedRequests } from './hardening.js';
import { explainRequest } from './explain.js';
import { createProxyListener } from './proxy-app.js';
import { ZoneMemory } from '../routing/zone-memory.js';

export interface Runtime {
  readonly store: PolicyStore;
  readonly health: HealthRegistry;
  /** Actual bound addresses (ports resolved when 0 was asked for). */
  readonly listen: ListenAddress;
  readonly adminListen: ListenAddress;
  /** This sidecar's spend of the budgeted tenants, for telemetry. */
  readonly spend: { windowSpend(): readonly LocalSpend[] };
  /** Stops accepting, lets in-flight requests finish up to the deadline, then closes everything. */
  drain(deadlineMs: number): Promise<void>;
  /** Closes everything at once. */
  close(): Promise<void>;
}

export interface RuntimeOptions {
  readonly config: RuntimeConfig;
  readonly logger: Logger;
  /** Extra observers (telemetry). */
  readonly observers?: readonly RequestObserver[];
  /** /metrics handler. */
  readonly metrics?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** How long to wait for Consul's first answer before serving from the last good policy. */
  readonly firstPolicyTimeoutMs?: number;
  /** The bandit's view of a route with `bandit`. */
  readonly bandit?: (route: CompiledRoute) => BanditView | undefined;
  /** The bandit routes' arms (posteriors, mean reward, share) for /admin/state. */
  readonly banditState?: () => unknown;
  /** Canary specs' local guards, by route (src/canary/guard-watch.ts). */
  readonly localGuard?: {
    get(route: string): LocalGuardSpec | undefined;
    status(health: (backend: string) => BackendHealth): Record<string, unknown>;
  };
  /** `POST /v1/feedback` on the proxy listener. */
  readonly feedback?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
}

export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { config, logger } = options;
  const store = new PolicyStore({ stateDir: config.stateDir });
  const health = new HealthRegistry({ now: Date.now });
  // Model-server load signals: scraped off the request path; a failing scrape only ages them.
  const signals = new SignalScraper({ now: Date.now, random: Math.random });
  const proxies = new ProxyPool();
  let draining = false;

  store.onChange((change) => {
    const unread = fleetSignalSources(change.policy).map((s) => s.backend);
    if (unread.length > 0 && !config.prometheusUrl) {
      logger.warn(
        { backends: unread },
        'signals.selector needs ROUTECAR_PROMETHEUS_URL; these backends have no load signal',
      );
    }
    health.reconcile(change.policy);
    signals.reconcile(change.policy);
    proxies.reconcile(change.policy);
    logger.info(
      {
        version: change.policy.version,
        source: change.origin.source,
        location: change.origin.location,
        cause: change.cause,
      },
      change.previous ? 'policy reloaded' : 'policy loaded',
    );
  });
  store.onRefused((refusal) => {
    logger.error(
      { reason: refusal.reason, errors: refusal.errors, source: refusal.origin.source },
      `policy refused: ${refusal.message}`,
    );
  });

  const sources = await startSources(config, store, logger, options.firstPolicyTimeoutMs ?? 5_000);

  // Tenants' spend: counted locally at once, and fleet-wide when a Prometheus is configured.
  const spend = new SpendLedger();
  const fleetSpend = config.prometheusUrl
    ? new FleetSpendReader({
        prometheusUrl: config.prometheusUrl,
        ledger: spend,
        now: Date.now,
        intervalMs: config.fleetIntervalMs,
        onError: (err) =>
          logger.warn({ err: err.message }, 'fleet spend unreadable; enforcing local spend only'),
      })
    : undefined;
  fleetSpend?.start();
  // The fleet's per-backend error ratio and TTFB p95, blended into decide's health view (a new pod
  // starts warm); like the signals, read off the request path, and only ever ages on failure.
  const fleetView = config.prometheusUrl
    ? new FleetView({
        url: config.prometheusUrl,
        now: Date.now,
        random: Math.random,
        intervalMs: config.fleetIntervalMs,
        signalSources: () => fleetSignalSources(store.current()),
      })
    : undefined;
  fleetView?.start();
  const decideHealth = blendedLookup(health.lookup, fleetView?.lookup);
  // A backend's load: scraped by this sidecar (`signals.metricsUrl`), or read from the fleet's
  // Prometheus (`signals.selector`).
  const fleetSignals = fleetView?.signalLookup;
  const signalLookup: SignalLookup = fleetSignals
    ? (backend) => signals.lookup(backend) ?? fleetSignals(backend)
    : signals.lookup;
  const spendRecorder: RequestObserver = {
    requestFinished: (r) => {
      if (r.costUsd !== undefined) spend.record(store.current()?.budgets, r.tenant, r.costUsd, Date.now());
    },
  };

  const observer = combineObservers(
    [
      spendRecorder,
      ...(options.observers ?? []),
      requestLog(logger, {
        headers: () => store.current()?.headersRead ?? [],
        hashedHeaders: () => stickyHeaders(store.current()),
      }),
    ],
    (err, event) => logger.error({ err, event }, 'a request observer failed; the request is unaffected'),
  );

  // Which routes' traffic is out of the zone: kept by the proxy listener, read by /admin/explain.
  const zoneMemory = new ZoneMemory();
  const proxyApp = createProxyListener({
    zoneMemory,
    policy: () => store.current(),
    health: decideHealth,
    signals: signalLookup,
    zone: config.zone,
    observer,
    proxies,
    gate: health,
    spend,
    maxBodyBytes: config.maxBodyBytes,
    bodyTimeoutMs: config.bodyTimeoutMs,
    random: Math.random,
    hosts: { listenHost: config.listen.host, allowedHosts: config.allowedHosts },
    feedback: options.feedback,
    bandit: options.bandit,
    localGuard: options.localGuard && ((route) => options.localGuard?.get(route)),
  });
  const adminApp = createAdminApp({
    ready: () => !draining && store.current() !== undefined,
    notReadyReason: () => (draining ? 'draining' : 'no policy loaded yet'),
    state: () => ({
      policyVersion: store.current()?.version,
      backends: health.allStats(),
      signals: signals.stats(),
      canaryGuards: options.localGuard?.status(health.lookup) ?? {},
      bandit: options.banditState?.() ?? {},
      fleet: fleetView?.stats() ?? null,
      budgets: {
        spend: spend.view(store.current()?.budgets, Date.now()),
        fleet: fleetSpend?.status() ?? null,
      },
    }),
    policy: () => ({ ...store.status(), document: store.redacted() }),
    explain: (body, headers) =>
      explainRequest(
        store.current(),
        decideHealth,
        body,
        headers,
        Math.random,
        signalLookup,
        config.zone,
        zoneMemory.left,
      ),
    metrics: options.metrics,
    adminToken: config.adminToken,
    loopbackOnly: isLoopback(config.adminListen.host),
    maxBodyBytes: config.maxBodyBytes,
    hosts: { listenHost: config.adminListen.host, allowedHosts: config.adminAllowedHosts },
  });

  const proxyServer = http.createServer(proxyApp);
  // An app's idle keep-alive connection should outlive routecar's side of it, never the reverse.
  proxyServer.keepAliveTimeout = 65_000;
  proxyServer.headersTimeout = 66_000;
  refuseMalformedRequests(proxyServer);
  const drainer = new HttpDrainer(proxyServer);
  const adminServer = http.createServer(adminApp);
  const listen = await listenOn(proxyServer, config.listen);
  const adminListen = await listenOn(adminServer, config.adminListen);

  const closeAll = async (): Promise<void> => {
    await Promise.all(sources.map((s) => s.stop()));
    proxyServer.closeAllConnections();
    adminServer.closeAllConnections();
    await Promise.all([closeServer(proxyServer), closeServer(adminServer)]);
    proxies.close();
    signals.close();
    fleetView?.close();
    fleetSpend?.stop();
    health.shutdown();
    await store.flush();
  };

  return {
    store,
    health,
    spend: { windowSpend: () => spend.localSpend(store.current()?.budgets, Date.now()) },
    listen,
    adminListen,
    async drain(deadlineMs: number): Promise<void> {
      draining = true;
      // /readyz fails from here on; new connections are refused; in-flight requests finish (drain.ts).
      logger.info(
        { inflight: drainer.inflight, deadlineMs },
        'listener closed; waiting for in-flight requests',
      );
      const outcome = await drainer.drain(deadlineMs);
      if (outcome.result === 'drained') logger.info('drained: every in-flight request finished');
      else logger.warn({ cut: outcome.cut }, 'drain deadline reached: cutting the requests still in flight');
      await closeAll();
    },
    close: closeAll,
  };
}

/**
 * Starts the configured sources. A file must load at start (a typo should stop a deploy);
 * Consul may be down, in which case the last good policy from the state dir serves meanwhile.
 */
async function startSources(
  config: RuntimeConfig,
  store: PolicyStore,
  logger: Logger,
  firstPolicyTimeoutMs: number,
): Promise<PolicySource[]> {
  const sources: PolicySource[] = [];
  if (config.consul) {
    const lastGood = await loadLastGood(config.stateDir);
    if (lastGood.kind === 'loaded') {
      const restored = store.restore(lastGood.record, lastGood.file);
      logger.info(
        { file: lastGood.file, result: restored.kind },
        'last good policy loaded; it serves if Consul cannot be reached',
      );
    } else if (lastGood.kind === 'corrupt') {
      logger.warn({ file: lastGood.file, error: lastGood.error }, 'last good policy unreadable; ignoring it');
    }
    // Loaded only when configured: node-consul and its HTTP client cost ~14 MB in every pod that does not use it.
    const { ConsulPolicySource } = await import('../policy/sources/consul.js');
    const consul = new ConsulPolicySource({
      addr: config.consul.baseUrl,
      token: config.consul.token,
      prefix: config.consul.prefix,
    });
    const firstAnswer = new Promise<void>((resolve) => {
      consul.start((update) => {
        store.apply(update);
        // Consul answered; or it cannot be reached and there is a last good policy to serve meanwhile.
        const answered = update.kind === 'document' || update.kind === 'document-missing';
        if (answered || (update.kind === 'unavailable' && store.current() !== undefined)) resolve();
      });
    });
    sources.push(consul);
    // Wait for Consul's first answer even with a last good policy: Consul may hold a newer one (a
    // rollback made while this sidecar was down), which must serve from the first request.
    await Promise.race([firstAnswer, new Promise((r) => setTimeout(r, firstPolicyTimeoutMs).unref())]);
  }
  if (config.policyFile) {
    const file = new FilePolicySource(config.policyFile);
    const first = new Promise<void>((resolve) => {
      file.start((update) => {
        store.apply(update);
        resolve();
      });
    });
    sources.push(file);
    await first;
    if (!store.current()) {
      await Promise.all(sources.map((s) => s.stop()));
      const err = store.status().lastError;
      throw new Error(
        `policy ${config.policyFile} could not be loaded:\n${(err?.errors ?? []).map((e) => `  ${e.path ? `${e.path}: ` : ''}${e.message}`).join('\n')}`,
      );
    }
  }
  return sources;
}

/** The backends whose load the fleet view reads from Prometheus (`signals.selector`). */
function fleetSignalSources(policy: CompiledPolicy | undefined): FleetSignalSource[] {
  const out: FleetSignalSource[] = [];
  for (const [backend, b] of policy?.backends ?? []) {
    if (b.signals?.selector === undefined) continue;
    const parsed = parseSelector(b.signals.selector);
    if (parsed.ok) out.push({ backend, format: b.signals.format, matchers: parsed.matchers });
  }
  return out;
}

/** The request headers the policy's routes keep users sticky by (they identify someone). */
function stickyHeaders(policy: CompiledPolicy | undefined): string[] {
  const out: string[] = [];
  for (const route of policy?.routes.values() ?? [])
    if (route.sticky.kind === 'header') out.push(route.sticky.name);
  return out;
}

function listenOn(server: http.Server, address: ListenAddress): Promise<ListenAddress> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      const info = server.address() as AddressInfo;
      resolve({ host: address.host, port: info.port });
    });
  });
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}
