/**
 * Summarizes a V8 .cpuprofile (from `node --cpu-prof`): where the CPU time went by package, and
 * the functions of routecar's own src/ with the most self time (and their inclusive time),
 * located in the TypeScript source through the build's source maps.
 *
 *   node bench/lib/profile.js FILE.cpuprofile     # or bench/run.js --profile, which calls it
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** `node:internal/...` → node, `.../node_modules/@a/b/...` → @a/b, `.../dist/src/x.js` → routecar. */
function category(url, fn) {
  if (!url) return fn.startsWith('(') ? fn : 'native/V8';
  if (url.startsWith('node:')) return 'node internals';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + 14).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  if (url.includes('/dist/src/')) return 'routecar src';
  return 'other';
}

const maps = new Map();
/** `file:///…/dist/src/proxy/forward.js` line 120 → `src/proxy/forward.ts:97` when a map exists. */
function sourceLocation(url, line, column, root) {
  const file = url.startsWith('file://') ? fileURLToPath(url) : url;
  const rel = path.relative(root, file);
  if (!maps.has(file)) {
    const mapFile = `${file}.map`;
    maps.set(file, existsSync(mapFile) ? new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8'))) : null);
  }
  const map = maps.get(file);
  const entry = map?.findEntry(line, column);
  if (!entry?.originalSource) return `${rel}:${line + 1}`;
  const src = path.relative(
    root,
    path.resolve(path.dirname(file), entry.originalSource.replace(/^file:\/\//, '')),
  );
  return `${src}:${entry.originalLine + 1}`;
}

export function summarizeProfile(file, root = process.cwd(), top = 15) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const keyOf = (n) => {
    const { functionName, url, lineNumber, columnNumber } = n.callFrame;
    return `${functionName || '(anonymous)'}\t${url}\t${lineNumber}\t${columnNumber}`;
  };
  const self = new Map();
  const inclusive = new Map();
  const cats = new Map();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    const node = byId.get(profile.samples[i]);
    if (!node) continue;
    const fn = node.callFrame.functionName;
    if (fn === '(idle)') {
      idle += dt;
      continue;
    }
    total += dt;
    const key = keyOf(node);
    self.set(key, (self.get(key) ?? 0) + dt);
    const cat = category(node.callFrame.url, fn);
    cats.set(cat, (cats.get(cat) ?? 0) + dt);
    // Inclusive time: every distinct routecar function on the stack gets the sample once.
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id);
      if (!n.callFrame.url.includes('/dist/src/')) continue;
      const k = keyOf(n);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  }

  const pct = (v) => `${((100 * v) / total).toFixed(1)}%`.padStart(6);
  const describe = (key) => {
    const [fn, url, line, col] = key.split('\t');
    const where = url.includes('/dist/src/')
      ? sourceLocation(url, Number(line), Number(col), root)
      : url || '';
    return `${fn} ${where}`;
  };
  const out = [];
  out.push(
    `CPU profile ${path.relative(root, file)}: ${(total / 1e6).toFixed(1)} s busy, ${(idle / 1e6).toFixed(1)} s idle`,
    '',
    'Self time by package (% of busy time):',
  );
  for (const [cat, v] of [...cats].sort((a, b) => b[1] - a[1]).slice(0, 14)) out.push(`  ${pct(v)}  ${cat}`);
  out.push('', `Top ${top} functions by self time (all code):`);
  for (const [key, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top))
    out.push(`  ${pct(v)}  ${describe(key)}`);
  out.push('', `Top ${top} routecar src functions by self time (self / inclusive):`);
  const ours = [...self]
    .filter(([key]) => key.split('\t')[1].includes('/dist/src/'))
    .sort((a, b) => b[1] - a[1]);
  const oursTotal = ours.reduce((a, [, v]) => a + v, 0);
  for (const [key, v] of ours.slice(0, top))
    out.push(`  ${pct(v)} / ${pct(inclusive.get(key) ?? 0)}  ${describe(key)}`);
  out.push(`  routecar src self time in all: ${pct(oursTotal).trim()}`);
  out.push('', `Top ${top} routecar src functions by inclusive time:`);
  for (const [key, v] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top))
    out.push(`  ${pct(v)}  ${describe(key)}`);
  return out.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (!process.argv[2]) {
    console.error('usage: node bench/lib/profile.js FILE.cpuprofile');
    process.exit(2);
  }
  console.log(
    summarizeProfile(process.argv[2], path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')),
  );
}
