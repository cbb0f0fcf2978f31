import { describe, expect, it } from 'vitest';
import { Debouncer, type DebounceTimers } from '../../../../src/policy/sources/debounce.js';

/** Timers on a manual clock: `advance` runs every timer that falls due, in order. */
function manualTimers() {
  let now = 0;
  let nextId = 1;
  const pending = new Map<number, { at: number; fn: () => void }>();
  const timers: DebounceTimers = {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = nextId++;
      pending.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout: (handle) => {
      pending.delete(handle as number);
    },
  };
  const advance = (ms: number) => {
    const end = now + ms;
    for (;;) {
      const due = [...pending].filter(([, t]) => t.at <= end).sort(([, a], [, b]) => a.at - b.at)[0];
      if (due === undefined) break;
      pending.delete(due[0]);
      now = due[1].at;
      due[1].fn();
    }
    now = end;
  };
  return { timers, advance, now: () => now };
}

describe('Debouncer', () => {
  it('fires once, quietMs after the last of a short burst', () => {
    const { timers, advance, now } = manualTimers();
    const fired: number[] = [];
    const d = new Debouncer(() => fired.push(now()), { quietMs: 100, maxWaitMs: 500 }, timers);
    d.poke();
    advance(30);
    d.poke();
    advance(30);
    d.poke();
    advance(1000);
    expect(fired).toEqual([160]);
  });

  it('fires no later than maxWaitMs after the first event under a steady stream, and again after', () => {
    const { timers, advance, now } = manualTimers();
    const fired: number[] = [];
    const d = new Debouncer(() => fired.push(now()), { quietMs: 100, maxWaitMs: 500 }, timers);
    // An event every 20 ms for 1.2 s: a plain debounce would never fire.
    for (let t = 0; t < 1200; t += 20) {
      d.poke();
      advance(20);
    }
    expect(fired).toEqual([500, 1000]);
    advance(1000);
    expect(fired).toEqual([500, 1000, 1280]);
  });

  it('cancel drops a pending fire', () => {
    const { timers, advance } = manualTimers();
    let fired = 0;
    const d = new Debouncer(() => (fired += 1), { quietMs: 100, maxWaitMs: 500 }, timers);
    d.poke();
    d.cancel();
    advance(1000);
    expect(fired).toBe(0);
  });
});
