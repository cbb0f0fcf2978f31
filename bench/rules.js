/**
 * What rule evaluation costs per request: decide() over a policy of 20 rules, with and without
 * prompt rules, on a ~4 KB chat prompt. In-process and single-threaded: no sockets, no express,
 * only the routing decision (ingress parsing measured apart). Run after a build:
 *
 *   npm run build && node bench/rules.js            # 7 rounds × 20 000 decisions per case
 *   node bench/rules.js --quick                     # 3 rounds × 5 000
 *
 * Cases (every rule is evaluated: none of the first 19 matches, the 20th is a catch-all):
 *   plain-20       20 rules on headers, tenant, route, ranges; no prompt rule (the baseline)
 *   prompt-20      the same with rule 10 a `contains` list (5 entries) and rule 15 a regex, neither
 *                  matching: the prompt is extracted, lower-cased, scanned by both
 *   prompt-hit     as prompt-20, but the prompt contains an entry of rule 10 (matching stops there)
 *   class-walk     classifiersNeeded() for a policy whose rule 20 reads a classifier: the walk the
 *                  edge runs before deciding (the call itself is network time, not measured here)
 *   class-edge     that walk, then decide with the classifier's answer (no label): what the edge
 *                  runs in all; the prompt rules' answers are remembered per request, so the
 *                  second walk does not scan the text again
 * Each decision gets fresh features (a fresh lazy prompt), as a request would.
 * Figures: µs per decision, the median round and the fastest (on a shared machine the fastest is
 * the closer to the code's own cost); docs/benchmarks.md ("Rule evaluation").
 */
import { parseArgs } from 'node:util';
import { extractRequest } from '../dist/src/ingress/extract.js';
import { lazyPrompt } from '../dist/src/ingress/prompt-text.js';
import { UNKNOWN_HEALTH } from '../dist/src/health/types.js';
import { parsePolicy } from '../dist/src/policy/parse.js';
import { decide } from '../dist/src/routing/decide.js';
import { classifiersNeeded } from '../dist/src/routing/rules.js';

const { values: opts } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
const ROUNDS = opts.quick ? 3 : 7;
const COUNT = opts.quick ? 5_000 : 20_000;

const SENTENCE =
  'The customer wrote again about the parcel that left the warehouse on Tuesday and has not moved since; ' +
  'they would like to know whether the second volume was in stock and if the address can still change. ';

/** A chat body whose text is about 4 KB; `extra` goes at the end of the latest user message. */
function body(extra = '') {
  const text = SENTENCE.repeat(Math.ceil(3600 / SENTENCE.length));
  return Buffer.from(
    JSON.stringify({
      model: 'chat',
      messages: [
        { role: 'system', content: 'You are a helpful assistant for an online bookshop.' },
        { role: 'user', content: text.slice(0, 3600) },
        { role: 'assistant', content: 'Let me look that up for you.' },
        { role: 'user', content: `Thanks, and one more question about the order. ${extra}` },
      ],
      max_tokens: 256,
    }),
  );
}

function policy({ prompt, classifier }) {
  const rules = [];
  for (let i = 1; i <= 19; i++) {
    if (prompt && i === 10) {
      rules.push({
        name: 'code-contains',
        match: { prompt: { contains: ['```', 'def ', 'function ', 'select * from', '#include'] } },
        route: 'code',
      });
    } else if (prompt && i === 15) {
      rules.push({
        name: 'code-regex',
        match: { prompt: { regex: '(?i)\\b(python|typescript|sql|rust|golang)\\b' } },
        route: 'code',
      });
    } else {
      const kinds = [
        { tenant: `tenant-${i}` },
        { header: { 'x-plan': [`plan-${i}`, 'enterprise'] } },
        { route: 'code', stream: true },
        { promptTokens: { gt: 100_000 + i } },
        { user: { prefix: `vip-${i}-` } },
      ];
      rules.push({ name: `rule-${i}`, match: kinds[i % kinds.length], prefer: ['small'] });
    }
  }
  rules.push(
    classifier
      ? { name: 'topic', match: { class: { topic: ['math'] } }, prefer: ['big'] }
      : { name: 'catch-all', match: {}, prefer: ['big'] },
  );
  const doc = {
    version: 1,
    backends: {
      big: { url: 'http://big:8000/v1', model: 'big', price: { input: 1, output: 2 } },
      small: { url: 'http://small:8000/v1', model: 'small', price: { input: 0.1, output: 0.2 } },
    },
    routes: { chat: { backends: ['big', 'small'] }, code: { backends: ['big', 'small'] } },
    ...(classifier ? { classifiers: { topic: { url: 'http://classifier:8080/classify' } } } : {}),
    rules,
  };
  const parsed = parsePolicy(JSON.stringify(doc));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.policy;
}

/** µs per call of `run(i)`: the median round, and the fastest (the least disturbed by other work). */
function measure(run) {
  for (let i = 0; i < COUNT / 4; i++) run(i);
  const perCall = [];
  for (let r = 0; r < ROUNDS; r++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < COUNT; i++) run(i);
    perCall.push(Number(process.hrtime.bigint() - started) / 1000 / COUNT);
  }
  perCall.sort((a, b) => a - b);
  return { median: perCall[Math.floor(perCall.length / 2)], fastest: perCall[0] };
}

const health = () => UNKNOWN_HEALTH;
let sink = 0;

function decideCase(pol, raw) {
  const { features, body: parsed } = extractRequest('chat.completions', {}, raw);
  return measure((i) => {
    const f = { ...features, prompt: lazyPrompt('chat.completions', parsed) };
    const r = decide({ policy: pol, health, features: f, nowMs: 0, random: () => (i % 100) / 100 });
    if (r.ok) sink += r.decision.attempts.length;
  });
}

const plain = policy({ prompt: false });
const withPrompt = policy({ prompt: true });
const withClass = policy({ prompt: true, classifier: true });
const miss = body();
const hit = body('Here is my function foo() { }');

const results = {
  'plain-20': decideCase(plain, miss),
  'prompt-20': decideCase(withPrompt, miss),
  'prompt-hit': decideCase(withPrompt, hit),
};
{
  const { features, body: parsed } = extractRequest('chat.completions', {}, miss);
  results['class-walk'] = measure(() => {
    const f = { ...features, prompt: lazyPrompt('chat.completions', parsed) };
    sink += classifiersNeeded(withClass.rules, f).length;
  });
  const noLabel = new Map([['topic', undefined]]);
  results['class-edge'] = measure((i) => {
    const f = { ...features, prompt: lazyPrompt('chat.completions', parsed) };
    sink += classifiersNeeded(withClass.rules, f).length;
    const labelled = { ...f, classes: noLabel };
    const r = decide({
      policy: withClass,
      health,
      features: labelled,
      nowMs: 0,
      random: () => (i % 100) / 100,
    });
    if (r.ok) sink += r.decision.attempts.length;
  });
}
results['ingress-parse (4 KB body, for scale)'] = measure(() => {
  sink += extractRequest('chat.completions', {}, miss).features.payloadBytes;
});

console.log(`node ${process.version}, ${ROUNDS} rounds × ${COUNT}, prompt ${miss.length} B body`);
console.log('| case | µs per decision, median round | fastest round |');
console.log('| --- | ---: | ---: |');
for (const [name, us] of Object.entries(results)) {
  console.log(`| ${name} | ${us.median.toFixed(2)} | ${us.fastest.toFixed(2)} |`);
}
if (sink === -1) console.log(sink);
