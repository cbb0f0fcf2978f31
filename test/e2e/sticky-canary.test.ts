/**
 * Sticky canary through a real routecar on Consul: route `chat` splits between `stable` and
 * `canary`, sticky on `header:x-user-id`; the canary weight is set through
 * `routecar/splits/chat` to 5, 10, 50, then 0, and each of 10,000 distinct user ids sends one
 * request at every stage. Then the canary goes from 50 down to 10, and the users who were not in
 * it at 50, and those who were in it at 10 before, send one more request each.
 *
 * What must hold (rendezvous hashing, docs/policy.md "Splits"):
 * - monotone: raising the canary only moves users into it (canary@5 ⊆ canary@10 ⊆ canary@50),
 *   lowering it only moves users out (nobody outside canary@50 is in it at 10), and 0 means nobody;
 * - deterministic: the same weights give the same users the same arm (canary@10 on the way down);
 * - each share is within 1 point of its target. The ids and the hash are fixed, so this is
 *   deterministic. It is also tight: a share of 10,000 ids has a standard deviation of 0.5 points
 *   at 50% (0.3 at 10%, 0.22 at 5%). With these ids the shares are 5.32%, 10.26% and 50.96%
 *   (1.9 sd at 50%); over 1,000,000 ids the same hash is within 0.04 points of every target, so
 *   that is sampling, not bias. A change of hash seed or constants reshuffles the sample and has
 *   about a 5% chance of landing outside 1 point at 50%.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chatBody,
  ConsulUnderTest,
  post,
  removeStateDirs,
  startConsulRoutecar,
  type ConsulRoutecar,
} from '../support/consul-routecar.js';
import { useFakeUpstreams, type FakeUpstream } from '../support/fake-upstream.js';
import { useProcesses } from '../support/processes.js';

const procs = useProcesses(afterAll);
const fakeUpstream = useFakeUpstreams(afterAll);

const USERS = 10_000;
const CONCURRENCY = 16;
const TOLERANCE_POINTS = 1;

let consul: ConsulUnderTest;
let routecar: ConsulRoutecar;
let stable: FakeUpstream;
let canary: FakeUpstream;

beforeAll(async () => {
  [stable, canary] = await Promise.all([fakeUpstream({ name: 'stable' }), fakeUpstream({ name: 'canary' })]);
  consul = await ConsulUnderTest.start('sticky');
  const backend = (u: FakeUpstream): object => ({
    url: u.baseURL,
    model: `${u.name}-model`,
    price: { input: 0.1, output: 0.1 },
  });
  await consul.write('policy', {
    version: 1,
    backends: { stable: backend(stable), canary: backend(canary) },
    routes: {
      chat: { backends: ['stable', 'canary'], split: { stable: 100, canary: 0 }, sticky: 'header:x-user-id' },
    },
  });
  routecar = await startConsulRoutecar({ consul, group: procs });
});

afterAll(async () => {
  await procs.killAll();
  await consul?.close();
  await removeStateDirs();
});

/** Sets the canary weight through Consul and waits until routecar serves it; returns the policy version. */
async function setCanary(weight: number): Promise<string> {
  const weights = { stable: 100 - weight, canary: weight };
  await consul.put('splits/chat', weights);
  const p = await routecar.waitForPolicy(
    (s) => JSON.stringify(s.splitOverrides.chat) === JSON.stringify(weights),
    `split override ${JSON.stringify(weights)}`,
  );
  return p.version!;
}

const ALL_USERS = Array.from({ length: USERS }, (_, i) => `user-${i}`);

/** One request per user id; returns the ids served by the canary. Every answer must be a 200 on `version`. */
async function canaryUsers(version: string, users: readonly string[] = ALL_USERS): Promise<Set<string>> {
  const url = `${routecar.url}/v1/chat/completions`;
  const body = chatBody('chat');
  const inCanary = new Set<string>();
  const problems: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < users.length) {
      const user = users[next++]!;
      const res = await post(url, body, { 'x-user-id': user });
      const arm = res.headers['x-routecar-backend'];
      if (
        res.status !== 200 ||
        res.headers['x-routecar-policy-version'] !== version ||
        res.headers['x-routecar-variant'] !== arm
      ) {
        problems.push(
          `${user}: ${res.status} ${String(arm)} ${String(res.headers['x-routecar-policy-version'])} ${res.body.slice(0, 200)}`,
        );
      }
      if (arm === 'canary') inCanary.add(user);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  expect(problems.slice(0, 5), `${problems.length} bad answers`).toEqual([]);
  return inCanary;
}

const share = (users: Set<string>): number => (100 * users.size) / USERS;
const outside = (subset: Set<string>, superset: Set<string>): string[] =>
  [...subset].filter((u) => !superset.has(u));

describe(`sticky canary on header:x-user-id, ${USERS} users (${process.env.CONSUL_HTTP_ADDR ? 'real Consul' : 'emulator'})`, () => {
  it(
    'canary 5 -> 10 -> 50 -> 0: monotone assignments, shares within 1 point of the targets',
    { timeout: 120_000 },
    async () => {
      const stages: Array<{ weight: number; users: Set<string> }> = [];
      const started = performance.now();
      for (const weight of [5, 10, 50, 0]) {
        const version = await setCanary(weight);
        stages.push({ weight, users: await canaryUsers(version) });
      }
      const [c5, c10, c50, c0] = stages.map((s) => s.users) as [
        Set<string>,
        Set<string>,
        Set<string>,
        Set<string>,
      ];
      // Down from 50 to 10: the users outside the canary at 50 (who could wrongly move in) and the
      // canary users of the first time at 10 (who must be back on the same arm).
      const downUsers = [...ALL_USERS.filter((u) => !c50.has(u)), ...c10];
      const down = await canaryUsers(await setCanary(10), downUsers);
      const seconds = (performance.now() - started) / 1000;
      const requests = USERS * stages.length + downUsers.length;
      console.log(
        `sticky canary: ${USERS} users x ${stages.length} stages + ${downUsers.length} in ${seconds.toFixed(1)} s (${(requests / seconds).toFixed(0)} req/s); ` +
          `canary shares ${stages.map((s) => `${s.weight}% -> ${share(s.users).toFixed(2)}%`).join(', ')}`,
      );

      for (const { weight, users } of stages) {
        expect(
          Math.abs(share(users) - weight),
          `canary at ${weight}%: ${share(users).toFixed(2)}% of users`,
        ).toBeLessThanOrEqual(TOLERANCE_POINTS);
      }
      // Raising the canary only moves users in.
      expect(outside(c5, c10), 'users who left the canary when it went 5 -> 10').toEqual([]);
      expect(outside(c10, c50), 'users who left the canary when it went 10 -> 50').toEqual([]);
      // 0 is an instant rollback: nobody.
      expect(c0.size).toBe(0);
      // Lowering it only moves users out, and the same weights give the same users.
      expect(outside(down, c50), 'users who entered the canary when it went 50 -> 10').toEqual([]);
      expect(outside(c10, down), 'users of the first 10% who were not in the canary at 10% again').toEqual(
        [],
      );
      expect(down.size).toBe(c10.size);
      // The shares really moved (not one arm for everybody).
      expect(c10.size).toBeGreaterThan(c5.size);
      expect(c50.size).toBeGreaterThan(c10.size);
    },
  );
});
