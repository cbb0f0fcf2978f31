/**
 * What the benchmarks send: a realistic chat completion request and the routecar policy that
 * routes it to the one fake upstream. Shared by bench/run.js and bench/telemetry.js.
 */

/** A realistic ~1 KB chat completion request; `model` is routecar's route name. */
export function chatBody(stream = false) {
  const system =
    'You are a helpful assistant for an online bookshop. Answer briefly, cite the order number when ' +
    'there is one, never invent delivery dates, and hand over to a human when the customer asks for a refund ' +
    'above 100 EUR or mentions a damaged parcel. Keep a friendly, professional tone.';
  const history =
    'I ordered three books last Tuesday (order 4471-2209) and the tracking page has not changed since Thursday. ' +
    'The shop page said delivery within five working days. Could you check where the parcel is and whether ' +
    'one of the books, the second volume of the series, was actually in stock when I ordered it?';
  const body = {
    model: 'bench',
    messages: [
      { role: 'system', content: system },
      { role: 'user', content: history },
      { role: 'assistant', content: 'Let me look that up for you. One moment please.' },
      { role: 'user', content: 'Thanks. Also, can I change the delivery address to my office instead?' },
    ],
    temperature: 0.2,
    max_tokens: 256,
    user: 'bench-user-0001',
  };
  if (stream) body.stream = true;
  return Buffer.from(JSON.stringify(body));
}

/** One route, `bench`, over one backend: the fake upstream at `upstreamUrl` (`http://host:port`). */
export function benchPolicy(upstreamUrl) {
  return [
    'version: 1',
    'backends:',
    '  bench-upstream:',
    `    url: ${upstreamUrl}/v1`,
    '    model: bench-model',
    '    price: { input: 0.60, output: 0.80 }',
    'routes:',
    '  bench:',
    '    backends: [bench-upstream]',
    '',
  ].join('\n');
}
