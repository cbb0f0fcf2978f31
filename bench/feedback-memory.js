// Heap (and array buffers) held by the feedback memory at its default bound: 100,000 request ids (UUIDs, as routecar
// generates them) → (route, backend, variant), ids included (the memory is what keeps them alive).
// Run: npm run build && node --expose-gc bench/feedback-memory.js [ENTRIES]
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { RequestMemory } from '../dist/src/feedback/memory.js';

const N = Number(process.argv[2] ?? 100_000);
const heap = () => {
  globalThis.gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const before = heap();
const memory = new RequestMemory({ maxEntries: N });
const t0 = performance.now();
for (let i = 0; i < N; i++) {
  memory.remember(
    randomUUID(),
    'chat',
    i % 2 ? 'llama-70b' : 'llama-70b-next',
    i % 2 ? 'a' : 'b',
    1_000_000 + i,
  );
}
const ms = performance.now() - t0;
const held = heap() - before;
console.log(
  JSON.stringify({
    entries: memory.size,
    heapMB: +(held / 1e6).toFixed(1),
    bytesPerEntry: Math.round(held / N),
    nsPerRememberIncludingUuid: Math.round((ms * 1e6) / N),
  }),
);
