/**
 * Decodes OTLP protobuf export requests (ExportMetricsServiceRequest, ExportTraceServiceRequest)
 * into the OTLP/JSON shape, so the receiver reads every protocol the same way. No package here
 * ships the OTLP `.proto` files, so the fields the tests read are listed below by number, from
 * opentelemetry-proto (`metrics/v1/metrics.proto`, `trace/v1/trace.proto`, `common/v1/common.proto`);
 * fields not listed are skipped.
 */

type Json = Record<string, unknown>;

/** Wire types. */
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

interface Field {
  readonly number: number;
  readonly wireType: number;
  /** VARINT: the value; I64/I32: the raw bytes; LEN: the bytes. */
  readonly varint?: bigint;
  readonly bytes?: Uint8Array;
}

/** Every top-level field of one message, in order. */
export function fields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error('protobuf: truncated varint');
      const b = buf[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  const take = (n: number): Uint8Array => {
    if (pos + n > buf.length) throw new Error('protobuf: truncated field');
    const bytes = buf.subarray(pos, pos + n);
    pos += n;
    return bytes;
  };
  while (pos < buf.length) {
    const tag = Number(varint());
    const number = tag >>> 3;
    const wireType = tag & 7;
    if (wireType === VARINT) out.push({ number, wireType, varint: varint() });
    else if (wireType === I64) out.push({ number, wireType, bytes: take(8) });
    else if (wireType === LEN) out.push({ number, wireType, bytes: take(Number(varint())) });
    else if (wireType === I32) out.push({ number, wireType, bytes: take(4) });
    else throw new Error(`protobuf: unsupported wire type ${wireType}`);
  }
  return out;
}

const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);
const hex = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString('hex');
const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
const double = (b: Uint8Array | undefined): number => (b ? view(b).getFloat64(0, true) : 0);
const fixed64 = (b: Uint8Array | undefined): string => (b ? view(b).getBigUint64(0, true).toString() : '0');
const sfixed64 = (b: Uint8Array | undefined): string => (b ? view(b).getBigInt64(0, true).toString() : '0');

/** Repeated fixed64/double, packed (LEN) or not. */
function packed(
  fs: readonly Field[],
  number: number,
  read: (b: Uint8Array) => string | number,
): (string | number)[] {
  const out: (string | number)[] = [];
  for (const f of fs) {
    if (f.number !== number || !f.bytes) continue;
    if (f.wireType === I64) out.push(read(f.bytes));
    else for (let i = 0; i + 8 <= f.bytes.length; i += 8) out.push(read(f.bytes.subarray(i, i + 8)));
  }
  return out;
}

const all = (fs: readonly Field[], number: number): Field[] => fs.filter((f) => f.number === number);
const one = (fs: readonly Field[], number: number): Field | undefined => fs.find((f) => f.number === number);

/** common.v1.AnyValue, the JSON way (`intValue` as a string). */
function anyValue(buf: Uint8Array): Json {
  const f = fields(buf)[0];
  if (!f) return {};
  switch (f.number) {
    case 1:
      return { stringValue: text(f.bytes) };
    case 2:
      return { boolValue: f.varint !== 0n };
    case 3:
      return { intValue: BigInt.asIntN(64, f.varint ?? 0n).toString() };
    case 4:
      return { doubleValue: double(f.bytes) };
    default:
      return {};
  }
}

/** Repeated common.v1.KeyValue at `number`. */
function keyValues(fs: readonly Field[], number: number): Json[] {
  return all(fs, number).map((f) => {
    const kv = fields(f.bytes!);
    return { key: text(one(kv, 1)?.bytes), value: anyValue(one(kv, 2)?.bytes ?? new Uint8Array()) };
  });
}

/** resource.v1.Resource: attributes (1). */
function resource(buf: Uint8Array | undefined): Json {
  return { attributes: buf ? keyValues(fields(buf), 1) : [] };
}

/** common.v1.InstrumentationScope: name (1), version (2). */
function scope(buf: Uint8Array | undefined): Json {
  const fs = buf ? fields(buf) : [];
  return { name: text(one(fs, 1)?.bytes), version: text(one(fs, 2)?.bytes) };
}

/** metrics.v1.NumberDataPoint: attributes (7), start (2), time (3), as_double (4), as_int (6). */
function numberPoint(buf: Uint8Array): Json {
  const fs = fields(buf);
  const point: Json = {
    attributes: keyValues(fs, 7),
    startTimeUnixNano: fixed64(one(fs, 2)?.bytes),
    timeUnixNano: fixed64(one(fs, 3)?.bytes),
  };
  const asDouble = one(fs, 4);
  const asInt = one(fs, 6);
  if (asDouble) point['asDouble'] = double(asDouble.bytes);
  if (asInt) point['asInt'] = sfixed64(asInt.bytes);
  return point;
}

/** metrics.v1.HistogramDataPoint: attributes (9), count (4), sum (5), bucket_counts (6), explicit_bounds (7). */
function histogramPoint(buf: Uint8Array): Json {
  const fs = fields(buf);
  return {
    attributes: keyValues(fs, 9),
    startTimeUnixNano: fixed64(one(fs, 2)?.bytes),
    timeUnixNano: fixed64(one(fs, 3)?.bytes),
    count: fixed64(one(fs, 4)?.bytes),
    sum: double(one(fs, 5)?.bytes),
    bucketCounts: packed(fs, 6, fixed64),
    explicitBounds: packed(fs, 7, double),
  };
}

/** metrics.v1.Metric: name (1), description (2), unit (3), gauge (5), sum (7), histogram (9). */
function metric(buf: Uint8Array): Json {
  const fs = fields(buf);
  const out: Json = {
    name: text(one(fs, 1)?.bytes),
    description: text(one(fs, 2)?.bytes),
    unit: text(one(fs, 3)?.bytes),
  };
  const points = (data: Uint8Array | undefined, point: (b: Uint8Array) => Json): Json => ({
    dataPoints: data ? all(fields(data), 1).map((f) => point(f.bytes!)) : [],
  });
  const gauge = one(fs, 5);
  const sum = one(fs, 7);
  const histogram = one(fs, 9);
  if (gauge) out['gauge'] = points(gauge.bytes, numberPoint);
  if (sum) out['sum'] = points(sum.bytes, numberPoint);
  if (histogram) out['histogram'] = points(histogram.bytes, histogramPoint);
  return out;
}

/** collector.metrics.v1.ExportMetricsServiceRequest → the OTLP/JSON body. */
export function decodeMetricsRequest(buf: Uint8Array): Json {
  return {
    resourceMetrics: all(fields(buf), 1).map((rm) => {
      const fs = fields(rm.bytes!);
      return {
        resource: resource(one(fs, 1)?.bytes),
        scopeMetrics: all(fs, 2).map((sm) => {
          const sfs = fields(sm.bytes!);
          return { scope: scope(one(sfs, 1)?.bytes), metrics: all(sfs, 2).map((m) => metric(m.bytes!)) };
        }),
      };
    }),
  };
}

/**
 * trace.v1.Span: trace_id (1), span_id (2), parent_span_id (4), name (5), kind (6),
 * start (7), end (8), attributes (9), status (15: message 2, code 3).
 */
function span(buf: Uint8Array): Json {
  const fs = fields(buf);
  const status = one(fs, 15);
  const sfs = status ? fields(status.bytes!) : [];
  return {
    traceId: hex(one(fs, 1)?.bytes),
    spanId: hex(one(fs, 2)?.bytes),
    parentSpanId: hex(one(fs, 4)?.bytes),
    name: text(one(fs, 5)?.bytes),
    kind: Number(one(fs, 6)?.varint ?? 0n),
    startTimeUnixNano: fixed64(one(fs, 7)?.bytes),
    endTimeUnixNano: fixed64(one(fs, 8)?.bytes),
    attributes: keyValues(fs, 9),
    status: { code: Number(one(sfs, 3)?.varint ?? 0n), message: text(one(sfs, 2)?.bytes) },
  };
}

/** collector.trace.v1.ExportTraceServiceRequest → the OTLP/JSON body. */
export function decodeTraceRequest(buf: Uint8Array): Json {
  return {
    resourceSpans: all(fields(buf), 1).map((rs) => {
      const fs = fields(rs.bytes!);
      return {
        resource: resource(one(fs, 1)?.bytes),
        scopeSpans: all(fs, 2).map((ss) => {
          const sfs = fields(ss.bytes!);
          return { scope: scope(one(sfs, 1)?.bytes), spans: all(sfs, 2).map((s) => span(s.bytes!)) };
        }),
      };
    }),
  };
}
