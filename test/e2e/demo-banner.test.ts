/**
 * The `npm start` demo: the backend its banner says to take down is the one the banner's request
 * loop really reaches under policies/default.yaml, so taking it down shows a failover; and the
 * compose demo's fleet (DEMO_FLEET) carries the policy's own backend names, as `npm start` does.
 * Runs the real process on default.yaml with the fleet moved to ephemeral ports.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_REQUEST_BODY, demoServingBackend } from '../../src/demo/demo-request.js';
import { parsePolicy } from '../../src/policy/parse.js';
import { DEMO_FLEET, startDemoFleet, type DemoFleet } from '../support/fake-upstream.js';
import { useProcesses } from '../support/processes.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const procs = useProcesses(afterAll);

interface PolicyDoc {
  backends: Record<string, { url: string }>;
}

let fleet: DemoFleet;
let routecar: Routecar;
let busiest: string | undefined;

beforeAll(async () => {
  const text = await readFile('policies/default.yaml', 'utf8');
  const compiled = parsePolicy(text);
  if (!compiled.ok) throw new Error('policies/default.yaml does not compile');
  const healthy = () => ({
    breaker: 'closed' as const,
    coolingUntilMs: 0,
    inflight: 0,
    requests: 0,
    failures: 0,
    errorRatio: 0,
    latencyEwmaMs: undefined,
  });
  busiest = demoServingBackend(compiled.policy, healthy as never, Date.now());
  // The demo fleet in the policy's order, as `routecar start --demo` builds it (so the first
  // upstream is the 70B model, which the demo request does not reach), on ephemeral ports.
  const doc = parseYaml(text) as PolicyDoc;
  const specs = Object.keys(doc.backends).map((name) => DEMO_FLEET.find((s) => s.name === name)!);
  fleet = await startDemoFleet(
    specs.map((s) => ({ ...s, port: 0, failureRate: 0 })),
    { controlPort: 0, busiest },
  );
  for (const [name, b] of Object.entries(doc.backends)) b.url = fleet.get(name).baseURL;
  routecar = await startRoutecar({ group: procs, policy: stringify(doc) });
});

afterAll(async () => {
  await routecar?.stop();
  await fleet?.close();
});

async function demoRequest(): Promise<string | null> {
  const res = await fetch(`${routecar.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: DEMO_REQUEST_BODY,
  });
  await res.arrayBuffer();
  expect(res.status).toBe(200);
  return res.headers.get('x-routecar-backend');
}

describe('the npm start demo', () => {
  it('the compose fleet and the policy use the same backend names', async () => {
    const doc = parseYaml(await readFile('policies/default.yaml', 'utf8')) as PolicyDoc;
    expect(DEMO_FLEET.map((s) => s.name).sort()).toEqual(Object.keys(doc.backends).sort());
    for (const spec of DEMO_FLEET) expect(new URL(doc.backends[spec.name]!.url).port).toBe(String(spec.port));
  });

  it('the banner names the backend the demo loop reaches, and taking it down moves the traffic', async () => {
    expect(busiest).toBeDefined();
    const down = [...fleet.description.matchAll(/curl -s -X POST (\S+) -d '\{"mode":"down"\}'/g)][0];
    expect(down?.[1]).toBe(`${fleet.controlUrl}/${busiest}`);

    const before = new Set<string | null>();
    for (let i = 0; i < 10; i++) before.add(await demoRequest());
    expect([...before]).toEqual([busiest]);

    await fetch(down![1]!, { method: 'POST', body: '{"mode":"down"}' });
    const after = new Set<string | null>();
    for (let i = 0; i < 10; i++) after.add(await demoRequest());
    expect(after.has(busiest!)).toBe(false);
    expect(after.size).toBeGreaterThan(0);
  });
});
