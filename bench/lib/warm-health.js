/**
 * A HealthRegistry warmed for the decision benchmarks: every backend has 50 recent successes with
 * varied latencies, and the fourth one fails one attempt in five, so decide reads real windows.
 *
 * @param {new (o: { now: () => number }) => any} HealthRegistry the class, from the build under test
 * @param {{ backends: Map<string, unknown> }} policy a compiled policy
 * @returns {{ health: any, now: number }} the registry and the clock reading after warming
 */
export function warmHealth(HealthRegistry, policy) {
  let now = Date.now();
  const health = new HealthRegistry({ now: () => now });
  health.reconcile(policy);
  const names = [...policy.backends.keys()];
  for (let k = 0; k < 50; k++) {
    names.forEach((n, i) => {
      now += 1;
      const admission = health.admit(n);
      if (!admission) throw new Error(`warm-health: the breaker of ${n} refused an attempt`);
      const failed = i === 3 && k % 5 === 0;
      health.record(admission, {
        outcome: failed ? { kind: 'failure', failure: 'server_error' } : { kind: 'success' },
        ttfbMs: 50 + i * 3 + (k % 11),
        durationMs: 200 + i * 10 + (k % 7),
      });
    });
  }
  return { health, now };
}
