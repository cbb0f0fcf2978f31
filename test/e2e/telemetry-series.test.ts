/**
 * Every series on /metrics is one series: after each endpoint kind (chat completions, completions,
 * embeddings, Responses; streamed and not) the scrape has no two samples with the same name and
 * label set (Prometheus would keep one and drop the other), each kind's calls are counted under
 * their own labels, and `promtool check metrics` finds nothing to say.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itWith } from '../support/external.js';
import { useFakeUpstreams } from '../support/fake-upstream.js';
import { useProcesses } from '../support/processes.js';
import { parsePromText, select, type PromSample } from '../support/prometheus-text.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const procs = useProcesses(afterAll);
const startUpstream = useFakeUpstreams(afterAll);

let routecar: Routecar;

beforeAll(async () => {
  const upstream = await startUpstream({ name: 'solo' });
  routecar = await startRoutecar({
    group: procs,
    name: 'routecar (series)',
    policy: {
      version: 1,
      backends: { solo: { url: upstream.baseURL, model: 'model-solo', price: { input: 1, output: 2 } } },
      routes: { chat: { backends: ['solo'] } },
    },
  });
}, 30_000);

afterAll(async () => {
  await routecar?.stop();
});

/** The calls of each kind: path, body, and the `openai_api_type` their GenAI series carry. */
const KINDS = [
  [
    'chat completions',
    '/chat/completions',
    { messages: [{ role: 'user', content: 'hi' }] },
    'chat_completions',
  ],
  ['completions', '/completions', { prompt: 'hi' }, 'completions'],
  ['embeddings', '/embeddings', { input: 'hi' }, 'embeddings'],
  ['responses', '/responses', { input: 'hi' }, 'responses'],
  ['moderations', '/moderations', { input: 'hi' }, 'moderations'],
  ['rerank', '/rerank', { query: 'hi', documents: ['a', 'b'] }, 'rerank'],
  ['score', '/score', { text_1: 'hi', text_2: ['a', 'b'] }, 'score'],
] as const;

/** Kinds with a streaming form. */
const STREAMING: ReadonlySet<string> = new Set(['chat completions', 'completions', 'responses']);

async function call(path: string, body: object, stream: boolean): Promise<void> {
  const streamFields = stream
    ? { stream: true, ...(path === '/responses' ? {} : { stream_options: { include_usage: true } }) }
    : {};
  const res = await fetch(`${routecar.baseURL}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'chat', ...body, ...streamFields }),
  });
  await res.arrayBuffer();
  expect(res.status, `${path} stream=${stream}`).toBe(200);
}

async function metricsText(): Promise<string> {
  const res = await fetch(`${routecar.adminUrl}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** Samples that share their name and label set with an earlier one. */
function duplicates(samples: readonly PromSample[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const s of samples) {
    const key = `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`;
    if (seen.has(key)) out.push(key);
    seen.add(key);
  }
  return out;
}

function promtool(args: string[], input: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
    child.stdin.end(input);
  });
}

describe('one series per name and label set', () => {
  it('has no duplicate series after each endpoint kind, streamed and not, and counts every kind apart', async () => {
    const sent = new Map<string, number>();
    for (const [kind, path, body, apiType] of KINDS) {
      for (const stream of STREAMING.has(kind) ? [false, true] : [false]) {
        await call(path, body, stream);
        sent.set(apiType, (sent.get(apiType) ?? 0) + 1);
        const samples = parsePromText(await metricsText());
        expect(duplicates(samples), `after ${kind} stream=${stream}`).toEqual([]);
      }
    }

    const samples = parsePromText(await metricsText());
    const calls = select(samples, 'gen_ai_client_operation_duration_seconds_count');
    const byApiType = Object.fromEntries(calls.map((s) => [s.labels['openai_api_type'], s.value]));
    expect(byApiType).toEqual(Object.fromEntries(sent));
    const operations = Object.fromEntries(
      calls.map((s) => [s.labels['openai_api_type'], s.labels['gen_ai_operation_name']]),
    );
    expect(operations).toEqual({
      chat_completions: 'chat',
      completions: 'text_completion',
      embeddings: 'embeddings',
      responses: 'chat',
      moderations: 'moderation',
      rerank: 'rerank',
      score: 'score',
    });
    // Streams of every streaming kind have their own time-to-first-chunk series.
    const ttfc = select(samples, 'gen_ai_client_operation_time_to_first_chunk_seconds_count');
    expect(ttfc.map((s) => s.labels['openai_api_type']).sort()).toEqual([
      'chat_completions',
      'completions',
      'responses',
    ]);
    // No gauge carries `quantile`, which Prometheus reserves for summaries.
    expect(samples.filter((s) => 'quantile' in s.labels).map((s) => s.name)).toEqual([]);
  });

  itWith(['promtool'], 'passes promtool check metrics', async () => {
    const check = await promtool(['check', 'metrics'], await metricsText());
    expect(check.output).toBe('');
    expect(check.code).toBe(0);
  });
});
