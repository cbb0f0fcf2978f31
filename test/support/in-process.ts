/**
 * routecar's app-facing listener in the test's own process, with the real health registry,
 * proxy pool and forwarder, for scenario tables that need many short-lived setups. (The e2e
 * files run the real process; this is the same request path without the CLI around it.)
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HealthRegistry } from '../../src/health/registry.js';
import { parsePolicy } from '../../src/policy/parse.js';
import type { RequestObserver, RequestReport } from '../../src/proxy/events.js';
import { combineObservers } from '../../src/proxy/observers.js';
import { ProxyPool } from '../../src/proxy/pool.js';
import { createProxyListener } from '../../src/server/proxy-app.js';

export interface InProcessRoutecar {
  readonly url: string;
  readonly health: HealthRegistry;
  /** Every request report, in order. */
  readonly reports: RequestReport[];
  /** Errors observers threw (isolated by combineObservers). */
  readonly observerErrors: unknown[];
  close(): Promise<void>;
}

export async function startInProcess(
  policyYaml: string,
  observers: readonly RequestObserver[] = [],
): Promise<InProcessRoutecar> {
  const parsed = parsePolicy(policyYaml);
  if (!parsed.ok) throw new Error(`test policy invalid: ${JSON.stringify(parsed)}`);
  const policy = parsed.policy;
  const health = new HealthRegistry({ now: Date.now });
  health.reconcile(policy);
  const proxies = new ProxyPool();
  proxies.reconcile(policy);
  const reports: RequestReport[] = [];
  const observerErrors: unknown[] = [];
  const observer = combineObservers([...observers, { requestFinished: (r) => reports.push(r) }], (err) =>
    observerErrors.push(err),
  );
  const server = http.createServer(
    createProxyListener({
      policy: () => policy,
      health: health.lookup,
      gate: health,
      observer,
      proxies,
      maxBodyBytes: 1_000_000,
      random: () => 0.5,
      hosts: { listenHost: '127.0.0.1', allowedHosts: [] },
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    health,
    reports,
    observerErrors,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      proxies.close();
      health.shutdown();
    },
  };
}
