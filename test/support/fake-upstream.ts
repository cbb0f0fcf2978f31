/**
 * Tests import the fake upstream from here; it lives in src/demo because `npm start` uses it too.
 */
import {
  startFakeUpstream as start,
  type FakeUpstream,
  type FakeUpstreamOptions,
} from '../../src/demo/fake-upstream.js';

export * from '../../src/demo/fake-upstream.js';
export { DEMO_FLEET, startDemoFleet, type DemoBackendSpec, type DemoFleet } from '../../src/demo/fleet.js';
export type { BehaviourPatch, FakeBehaviour, FakeMode } from '../../src/demo/behaviour.js';
export { seededRandom } from '../../src/demo/random.js';
export type { FakeOutcome, FakeStatsSnapshot, RecordedRequest } from '../../src/demo/stats.js';
export { CONTROL_PREFIX, type FakeUpstreamState } from '../../src/demo/control-api.js';

/**
 * A starter whose upstreams are all closed by the given hook:
 * `const fakeUpstream = useFakeUpstreams(afterEach); const u = await fakeUpstream({ name: 'a' })`.
 * The hook is passed in so this file does not depend on the test runner.
 */
export function useFakeUpstreams(
  hook: (fn: () => Promise<void>) => void,
): (options: FakeUpstreamOptions) => Promise<FakeUpstream> {
  const started: FakeUpstream[] = [];
  hook(async () => {
    await Promise.all(started.splice(0).map((u) => u.close()));
  });
  return async (options) => {
    const upstream = await start(options);
    started.push(upstream);
    return upstream;
  };
}
