/**
 * The shipped bundle: `dist/src/cli/run.js` (what `tsc` emits) and what it loads, into
 * `dist/bundle/`, which the bin (`dist/src/cli/main.js`) imports.
 *
 * Why a bundle: every sidecar pays for the modules it loads. Unbundled, start-up reads ~590
 * files, among them zod's 60 locale modules and the unused parts of the OpenTelemetry SDK; the
 * bundle keeps only what is reachable (docs/benchmarks.md, "Idle memory"). Commands and features
 * loaded on demand stay separate chunks, loaded only when used.
 *
 * Left out of the bundle, and loaded from node_modules when used:
 * - pino: its transports start worker threads from files in its own package;
 * - express, busboy, consul, the OTLP exporters: loaded only by the features that need them
 *   (express for the admin pages that need it, busboy for multipart bodies, consul for a Consul
 *   policy source, the exporters for OTLP), so they cost nothing when unused either way.
 */
import { defineConfig } from 'rolldown';

const ON_DEMAND = ['express', 'busboy', 'consul'];

export default defineConfig({
  input: 'dist/src/cli/run.js',
  platform: 'node',
  external: (id) =>
    id === 'pino' ||
    ON_DEMAND.includes(id) ||
    id.startsWith('@opentelemetry/exporter-trace-otlp-') ||
    id.startsWith('@opentelemetry/exporter-metrics-otlp-'),
  output: {
    dir: 'dist/bundle',
    format: 'esm',
    entryFileNames: 'run.js',
    chunkFileNames: '[name]-[hash].js',
    // Maps for `node --enable-source-maps` and for tests that ask which package a chunk holds.
    sourcemap: true,
    sourcemapExcludeSources: true,
    // Function and class names stay as written, for stack traces and for any dependency that reads them.
    keepNames: true,
    cleanDir: true,
  },
});
