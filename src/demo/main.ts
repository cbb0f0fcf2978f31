/**
 * Runs one fake upstream (or the whole demo fleet) as its own process, so a test can kill it to
 * simulate a crashed model server:
 *
 *   node dist/src/demo/main.js --port 8101 --name fast [--latency-ms 20] [--jitter-ms 10]
 *     [--token-delay-ms 5] [--tokens 16] [--failure-rate 0.2] [--mode ok] [--retry-after-sec 1]
 *     [--mid-stream-chunks 2] [--queue-depth 0] [--kv-cache-usage 0] [--metrics-mode ok]
 *     [--sse-format openai|sse-starlette|axum]
 *     [--seed 42] [--control-port 9101] [--host 127.0.0.1]
 *   node dist/src/demo/main.js --fleet [--control-port 8100]
 *
 * Prints `fake upstream <name> listening on <url>` once ready; exits 0 on SIGTERM / SIGINT.
 */
import { parseArgs } from 'node:util';
import { BEHAVIOUR_FIELDS, kebab, parseBehaviourPatch } from './behaviour.js';
import { startFakeUpstream } from './fake-upstream.js';
import { DEMO_CONTROL_PORT, startDemoFleet } from './fleet.js';

async function main(argv: readonly string[]): Promise<{ close(): Promise<void> }> {
  const behaviourFlags = Object.fromEntries(
    BEHAVIOUR_FIELDS.map((f) => [kebab(f), { type: 'string' as const }]),
  );
  const { values } = parseArgs({
    args: [...argv],
    options: {
      ...behaviourFlags,
      name: { type: 'string', default: 'fake' },
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      seed: { type: 'string' },
      'control-port': { type: 'string' },
      fleet: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const flag = (name: string): string | undefined => {
    const v = (values as Record<string, unknown>)[name];
    return typeof v === 'string' ? v : undefined;
  };
  const port = (name: string): number | undefined => {
    const raw = flag(name);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--${name}: expected a port number`);
    return n;
  };

  if (values.fleet) {
    const fleet = await startDemoFleet(undefined, {
      host: values.host,
      controlPort: port('control-port') ?? DEMO_CONTROL_PORT,
    });
    console.log(fleet.description);
    return fleet;
  }
  const parsed = parseBehaviourPatch(Object.fromEntries(BEHAVIOUR_FIELDS.map((f) => [f, flag(kebab(f))])));
  if (!parsed.ok) throw new Error(parsed.error);
  const seed = flag('seed');
  if (seed !== undefined && !Number.isInteger(Number(seed))) throw new Error('--seed: expected an integer');
  const upstream = await startFakeUpstream({
    ...parsed.patch,
    name: values.name,
    host: values.host,
    port: port('port') ?? 0,
    controlPort: port('control-port'),
    seed: seed === undefined ? undefined : Number(seed),
  });
  const control = upstream.controlUrl === undefined ? '' : ` (control ${upstream.controlUrl})`;
  console.log(`fake upstream ${upstream.name} listening on ${upstream.url}${control}`);
  return upstream;
}

main(process.argv.slice(2)).then(
  (running) => {
    const stop = (): void => {
      void running.close().then(() => process.exit(0));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  },
  (err: unknown) => {
    console.error(`fake upstream: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
