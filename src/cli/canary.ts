/**
 * `routecar canary run` and `routecar canary status`: the canary controller and its read-out.
 * Loaded only when one of them runs.
 */
import { hostname } from 'node:os';
import { CanaryConsul } from '../canary/consul.js';
import { CanaryController } from '../canary/controller.js';
import { parseCanarySpec, parseCanaryStatus } from '../canary/spec.js';
import { UsageError } from './args.js';
import { CANARY_RUN } from './commands.js';
import { resolveConsulSettings } from './config.js';

/** The options of `canary run`, as typed. */
export interface CanaryRunFlags {
  readonly sessionTtl?: string;
  readonly tickMs?: string;
  readonly minRangeS?: string;
  readonly id?: string;
}

function positive(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(CANARY_RUN.name, `--${flag}: expected a positive number, got "${text}"`);
  return n;
}

/** `routecar canary run`: runs until SIGINT/SIGTERM, then hands its locks over at once. */
export async function run(flags: CanaryRunFlags): Promise<number> {
  const consul = resolveConsulSettings(process.env);
  const prometheusUrl = process.env.ROUTECAR_PROMETHEUS_URL;
  if (consul === undefined || !prometheusUrl) {
    console.error('routecar canary run needs CONSUL_HTTP_ADDR and ROUTECAR_PROMETHEUS_URL');
    return 1;
  }
  const controller = new CanaryController({
    consul: new CanaryConsul(consul.baseUrl, consul.token),
    prometheusUrl,
    prefix: consul.prefix,
    id: flags.id ?? `${hostname()}:${process.pid}`,
    sessionTtlS: positive('session-ttl', flags.sessionTtl, 15),
    tickMs: positive('tick-ms', flags.tickMs, 5000),
    minRangeS: positive('min-range-s', flags.minRangeS, 30),
    log: (msg, fields) =>
      console.log(
        JSON.stringify({ time: new Date().toISOString(), service: 'routecar-canary', msg, ...fields }),
      ),
  });
  controller.start();
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await controller.stop();
  return 0;
}

/** `routecar canary status [ROUTE] [--json]`. */
export async function status(route: string | undefined, json: boolean): Promise<number> {
  const settings = resolveConsulSettings(process.env);
  if (settings === undefined) {
    console.error('routecar canary status needs CONSUL_HTTP_ADDR');
    return 1;
  }
  const consul = new CanaryConsul(settings.baseUrl, settings.token);
  const p = settings.prefix;
  const [specs, statuses, locks] = await Promise.all([
    consul.list(`${p}canary/`),
    consul.list(`${p}canary-status/`),
    consul.list(`${p}canary-lock/`),
  ]);
  const routes = new Set<string>();
  for (const key of specs.keys()) routes.add(key.slice(`${p}canary/`.length));
  for (const key of statuses.keys()) routes.add(key.slice(`${p}canary-status/`.length));
  const shown = [...routes].filter((r) => r !== '' && (route === undefined || r === route)).sort();
  if (route !== undefined && shown.length === 0) {
    console.error(`no canary for route "${route}" under ${p}canary/`);
    return 1;
  }
  const out: Record<string, unknown> = {};
  for (const r of shown) {
    const specText = specs.get(`${p}canary/${r}`)?.value;
    const spec = specText === undefined ? undefined : parseCanarySpec(specText);
    const st = parseCanaryStatus(statuses.get(`${p}canary-status/${r}`)?.value);
    const lock = locks.get(`${p}canary-lock/${r}`);
    out[r] = {
      spec: spec === undefined ? null : spec.ok ? spec.spec : { invalid: spec.error },
      status: st ? { state: st.state, weight: st.weight, reason: st.reason, updatedAt: st.updatedAt } : null,
      controller: lock?.session ? lock.value : null,
    };
  }
  if (json) {
    console.log(JSON.stringify(out, null, 2));
    return 0;
  }
  for (const r of shown) {
    const o = out[r] as {
      status: { state: string; weight: number; reason: string; updatedAt: string } | null;
      controller: string | null;
    };
    const s = o.status;
    console.log(
      s
        ? `${r}: ${s.state} at ${s.weight}% (${s.updatedAt}) — ${s.reason}${o.controller ? ` [controller ${o.controller}]` : ' [no controller holds the lock]'}`
        : `${r}: not started${o.controller ? ` [controller ${o.controller}]` : ' [no controller holds the lock]'}`,
    );
  }
  return 0;
}
