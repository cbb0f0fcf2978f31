/**
 * `routecar canary run`: the long-running controller. Every tick, for each spec under
 * `<prefix>canary/`, it holds (or tries to take) the route's session lock at
 * `<prefix>canary-lock/<route>`, reads the fleet's figures from Prometheus and carries out what
 * step.ts decides: a check-and-set write to `<prefix>splits/<route>`, then the status at
 * `<prefix>canary-status/<route>`. Replicas share the work through the locks: exactly one acts
 * per route. Losing the session (a renew answers 404) drops every lock at once; the lock is
 * checked again before each route's step.
 */
import { createHash } from 'node:crypto';
import type { CanaryConsul } from './consul.js';
import { readFleetFigures } from './prometheus.js';
import { parseCanarySpec, parseCanaryStatus, type CanaryStatus } from './spec.js';
import { needsFigures, stepCanary, type FleetFigures } from './step.js';

export interface CanaryControllerOptions {
  readonly consul: CanaryConsul;
  /** ROUTECAR_PROMETHEUS_URL. */
  readonly prometheusUrl: string;
  /** ROUTECAR_CONSUL_PREFIX, ending in `/`. */
  readonly prefix: string;
  /** This replica's name, stored as the lock's value (hostname and pid by default). */
  readonly id: string;
  /** Session TTL, seconds (Consul accepts 10 to 86400 by default). */
  readonly sessionTtlS: number;
  /** Longest pause between ticks, ms; a tick also comes at least twice per spec interval. */
  readonly tickMs: number;
  /** Shortest range the figures are read over, seconds (a few scrape intervals). */
  readonly minRangeS: number;
  /** One line per event. */
  readonly log: (msg: string, fields?: Record<string, unknown>) => void;
  /** Epoch ms; injected for tests. */
  readonly now?: () => number;
  /** The figures; injected for tests (default: readFleetFigures from prometheusUrl). */
  readonly figures?: (
    route: string,
    arms: { baseline: string; candidate: string },
    rangeS: number,
  ) => Promise<FleetFigures>;
}

export class CanaryController {
  private session: string | undefined;
  private readonly held = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> = Promise.resolve();
  private readonly now: () => number;

  constructor(private readonly o: CanaryControllerOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Starts ticking (the first tick at once). */
  start(): void {
    this.schedule(0);
    this.renewTimer = setInterval(() => void this.renew(), (this.o.sessionTtlS * 1000) / 3);
  }

  /** Stops ticking and destroys the session, so another replica takes the locks at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.renewTimer);
    await this.running;
    const session = this.session;
    this.session = undefined;
    this.held.clear();
    if (session) await this.o.consul.destroySession(session).catch(() => undefined);
  }

  /** The routes whose lock this replica holds. */
  get routes(): readonly string[] {
    return [...this.held];
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick()
        .catch((err: unknown) => this.o.log('canary tick failed', { error: (err as Error).message }))
        .then((next) => this.schedule(typeof next === 'number' ? next : this.o.tickMs));
    }, ms);
  }

  private async renew(): Promise<void> {
    const session = this.session;
    if (!session) return;
    try {
      if (await this.o.consul.renewSession(session)) return;
    } catch (err) {
      this.o.log('canary session renew failed', { error: (err as Error).message });
      return;
    }
    if (this.session === session) this.lose('session expired');
  }

  /** Drops every lock: nothing more is written until a lock is taken again. */
  private lose(why: string): void {
    if (this.held.size > 0) this.o.log('canary locks lost', { routes: [...this.held], reason: why });
    this.held.clear();
    this.session = undefined;
  }

  /** One pass over every spec; resolves with the delay until the next. */
  async tick(): Promise<number> {
    const { consul, prefix } = this.o;
    // A session Consul no longer knows (it lapsed while this replica was stalled) holds nothing.
    if (this.session && !(await consul.renewSession(this.session))) this.lose('session expired');
    if (!this.session) {
      this.session = await consul.createSession(`routecar-canary ${this.o.id}`, `${this.o.sessionTtlS}s`);
    }
    const specs = await consul.list(`${prefix}canary/`);
    let next = this.o.tickMs;
    const live = new Set<string>();
    for (const [key, entry] of specs) {
      if (this.stopped) break;
      const route = key.slice(`${prefix}canary/`.length);
      if (route === '' || route.includes('/')) continue;
      live.add(route);
      const parsed = parseCanarySpec(entry.value);
      if (!parsed.ok) {
        this.o.log('canary spec invalid', { route, error: parsed.error });
        continue;
      }
      next = Math.min(next, Math.max(250, (parsed.spec.intervalS * 1000) / 2));
      if (!(await this.hold(route))) continue;
      await this.stepRoute(route, parsed.spec, entry.value);
    }
    for (const route of [...this.held]) {
      if (live.has(route) || !this.session) continue;
      await consul
        .put(`${prefix}canary-lock/${route}`, this.o.id, `release=${this.session}`)
        .catch(() => false);
      this.held.delete(route);
    }
    return next;
  }

  /** Whether this replica holds the route's lock now (taking it when free). */
  private async hold(route: string): Promise<boolean> {
    const session = this.session;
    if (!session) return false;
    const key = `${this.o.prefix}canary-lock/${route}`;
    if (this.held.has(route)) {
      const lock = await this.o.consul.get(key);
      if (lock?.session === session) return true;
      this.held.delete(route);
      this.o.log('canary lock lost', { route });
      return false;
    }
    if (!(await this.o.consul.put(key, this.o.id, `acquire=${session}`))) return false;
    this.held.add(route);
    this.o.log('canary lock taken', { route, id: this.o.id });
    return true;
  }

  private async stepRoute(
    route: string,
    spec: Parameters<typeof stepCanary>[0]['spec'],
    text: string,
  ): Promise<void> {
    const { consul, prefix } = this.o;
    const splitKey = `${prefix}splits/${route}`;
    const statusKey = `${prefix}canary-status/${route}`;
    const [statusEntry, split] = await Promise.all([consul.get(statusKey), consul.get(splitKey)]);
    const status = parseCanaryStatus(statusEntry?.value);
    const specHash = createHash('sha256').update(text).digest('hex').slice(0, 12);
    const splitIndex = split?.modifyIndex ?? 0;
    const now = this.now();
    let figures: FleetFigures | undefined;
    if (status && needsFigures({ spec, specHash, status, splitIndex })) {
      const rangeS = Math.max(this.o.minRangeS, (now - status.stepStartedAt) / 1000);
      const arms = { baseline: spec.baseline, candidate: spec.candidate };
      figures = await (this.o.figures ?? ((r, a, s) => readFleetFigures(this.o.prometheusUrl, r, a, s)))(
        route,
        arms,
        rangeS,
      );
    }
    const action = stepCanary({ spec, specHash, status, splitIndex, figures, now });
    if (action.kind === 'none') return;
    // The lock may have gone while Prometheus answered: never write without it.
    if (!this.held.has(route) || !this.session) return;
    if (action.kind === 'status') return this.writeStatus(route, statusKey, action.status);
    const weights = { [spec.baseline]: 100 - action.weight, [spec.candidate]: action.weight };
    const written = await consul.put(splitKey, JSON.stringify(weights), `cas=${action.casIndex}`);
    if (!written) {
      const paused = `paused: check-and-set on ${splitKey} failed (changed outside the controller since ModifyIndex ${action.casIndex}); delete the status key to restart`;
      const base = status ?? action.status;
      return this.writeStatus(route, statusKey, {
        ...base,
        reason: paused,
        paused,
        updatedAt: new Date(now).toISOString(),
        specHash,
      });
    }
    const after = await consul.get(splitKey);
    await this.writeStatus(route, statusKey, { ...action.status, splitIndex: after?.modifyIndex ?? 0 });
  }

  private async writeStatus(route: string, key: string, status: CanaryStatus): Promise<void> {
    await this.o.consul.put(key, JSON.stringify(status));
    this.o.log('canary status', { route, state: status.state, weight: status.weight, reason: status.reason });
  }
}
