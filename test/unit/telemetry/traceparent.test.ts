import { describe, expect, it } from 'vitest';
import { formatTraceparent, parseTraceparent } from '../../../src/telemetry/traceparent.js';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN = 'b7ad6b7169203331';

describe('parseTraceparent', () => {
  const table: Array<[string, string | undefined, ReturnType<typeof parseTraceparent>]> = [
    ['sampled', `00-${TRACE}-${SPAN}-01`, { traceId: TRACE, spanId: SPAN, traceFlags: 1 }],
    ['not sampled', `00-${TRACE}-${SPAN}-00`, { traceId: TRACE, spanId: SPAN, traceFlags: 0 }],
    ['surrounding spaces', ` 00-${TRACE}-${SPAN}-01 `, { traceId: TRACE, spanId: SPAN, traceFlags: 1 }],
    [
      'a later version with extra fields',
      `01-${TRACE}-${SPAN}-01-extra`,
      { traceId: TRACE, spanId: SPAN, traceFlags: 1 },
    ],
    ['absent', undefined, undefined],
    ['version ff', `ff-${TRACE}-${SPAN}-01`, undefined],
    ['version 00 with extra fields', `00-${TRACE}-${SPAN}-01-extra`, undefined],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`, undefined],
    ['all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`, undefined],
    ['upper case', `00-${TRACE.toUpperCase()}-${SPAN}-01`, undefined],
    ['short trace id', `00-${TRACE.slice(1)}-${SPAN}-01`, undefined],
    ['garbage', 'hello', undefined],
  ];
  it.each(table)('%s', (_name, header, expected) => {
    expect(parseTraceparent(header)).toEqual(expected);
  });
});

describe('formatTraceparent', () => {
  it('writes version 00 with two-digit flags, and reads back what it wrote', () => {
    const header = formatTraceparent({ traceId: TRACE, spanId: SPAN, traceFlags: 1 });
    expect(header).toBe(`00-${TRACE}-${SPAN}-01`);
    expect(parseTraceparent(header)).toEqual({ traceId: TRACE, spanId: SPAN, traceFlags: 1 });
    expect(formatTraceparent({ traceId: TRACE, spanId: SPAN, traceFlags: 0 })).toBe(`00-${TRACE}-${SPAN}-00`);
  });
});
