/**
 * An OTLP receiver for end-to-end tests, for each protocol of OTEL_EXPORTER_OTLP_PROTOCOL:
 * - `http/json` and `http/protobuf`: POST /v1/metrics and /v1/traces on `url`, told apart by
 *   content type (`application/json`, `application/x-protobuf`), gzip or not;
 * - `grpc`: the OTLP gRPC services' Export methods on `grpcUrl`, a plaintext HTTP/2 server
 *   answering each call with an empty response and `grpc-status: 0`.
 * Protobuf bodies are decoded (otlp-protobuf.ts) into the OTLP/JSON shape, so whatever the
 * protocol the exports are kept alike, and flattened into spans and metric data points that tests
 * can search. `received` says how each export arrived.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import {
  createServer as createHttp2Server,
  constants as h2,
  type Http2Server,
  type ServerHttp2Session,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { decodeMetricsRequest, decodeTraceRequest } from './otlp-protobuf.js';

/** An OTLP JSON attribute value (only the kinds routecar sends). */
interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface KeyValue {
  key: string;
  value: AnyValue;
}

/** One span as exported, with its attributes and resource attributes as plain objects. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly name: string;
  /** 1 internal, 2 server, 3 client. */
  readonly kind: number;
  /** 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  readonly resource: Readonly<Record<string, string | number | boolean>>;
}

/** One metric data point as exported. */
export interface ReceivedPoint {
  readonly metric: string;
  readonly unit: string;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  readonly resource: Readonly<Record<string, string | number | boolean>>;
  /** Sums and gauges: the value; histograms: the count. */
  readonly value: number;
  /** Histograms only. */
  readonly sum?: number;
  readonly explicitBounds?: readonly number[];
}

/** The protocols of OTEL_EXPORTER_OTLP_PROTOCOL. */
export type OtlpWireProtocol = 'http/json' | 'http/protobuf' | 'grpc';

/** How one export arrived. */
export interface ReceivedExport {
  readonly signal: 'metrics' | 'traces';
  readonly protocol: OtlpWireProtocol;
  /** The request's content type. */
  readonly contentType: string;
  /** Body bytes as received (compressed, and for gRPC the framed message). */
  readonly bytes: number;
  /** The decoded (uncompressed) message. */
  readonly body: Buffer;
}

export interface OtlpReceiver {
  /** `http://127.0.0.1:port`: OTEL_EXPORTER_OTLP_ENDPOINT for `http/json` and `http/protobuf`. */
  readonly url: string;
  /** `http://127.0.0.1:port`: OTEL_EXPORTER_OTLP_ENDPOINT for `grpc`. */
  readonly grpcUrl: string;
  /** Export bodies in the OTLP/JSON shape, per path (`/v1/metrics`, `/v1/traces`), in arrival order. */
  readonly posts: ReadonlyMap<string, readonly unknown[]>;
  /** Every export, in arrival order, with its protocol. */
  readonly received: readonly ReceivedExport[];
  /** Every span received so far. */
  spans(): ReceivedSpan[];
  /** Every metric data point of every export so far (later exports repeat cumulative points). */
  points(): ReceivedPoint[];
  /** Resolves with `select()` once it returns something truthy; rejects after `timeoutMs`. */
  waitFor<T>(select: () => T | undefined | false, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

/** The OTLP/HTTP paths and the gRPC methods, per signal. */
const HTTP_PATHS = { '/v1/metrics': 'metrics', '/v1/traces': 'traces' } as const;
const GRPC_PATHS = {
  '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export': 'metrics',
  '/opentelemetry.proto.collector.trace.v1.TraceService/Export': 'traces',
} as const;
const SIGNAL_PATH = { metrics: '/v1/metrics', traces: '/v1/traces' } as const;

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const posts = new Map<string, unknown[]>();
  const received: ReceivedExport[] = [];

  /** Decodes and keeps one export; throws on a body that is not what its protocol says. */
  const keep = (
    signal: 'metrics' | 'traces',
    protocol: OtlpWireProtocol,
    contentType: string,
    bytes: number,
    message: Buffer,
  ): void => {
    const body =
      protocol === 'http/json'
        ? (JSON.parse(message.toString('utf8')) as unknown)
        : signal === 'metrics'
          ? decodeMetricsRequest(message)
          : decodeTraceRequest(message);
    const path = SIGNAL_PATH[signal];
    if (!posts.has(path)) posts.set(path, []);
    posts.get(path)!.push(body);
    received.push({ signal, protocol, contentType, bytes, body: message });
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const signal = HTTP_PATHS[(req.url ?? '/').split('?')[0]! as keyof typeof HTTP_PATHS];
      const contentType = mediaType(req.headers);
      const protocol =
        contentType === 'application/json'
          ? 'http/json'
          : contentType === 'application/x-protobuf'
            ? 'http/protobuf'
            : undefined;
      const raw = Buffer.concat(chunks);
      try {
        if (req.method !== 'POST' || signal === undefined || protocol === undefined)
          throw new Error(`unexpected ${req.method} ${req.url} (${contentType})`);
        const message = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
        keep(signal, protocol, contentType, raw.length, message);
        // An empty Export*ServiceResponse, in the request's encoding.
        res.writeHead(200, { 'content-type': contentType });
        res.end(protocol === 'http/json' ? '{}' : undefined);
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end(String(err));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // gRPC: each message is framed as 1 byte "compressed" flag, 4 bytes big-endian length, the bytes.
  const grpc: Http2Server = createHttp2Server();
  grpc.on('stream', (stream, headers) => {
    const signal = GRPC_PATHS[headers[h2.HTTP2_HEADER_PATH] as keyof typeof GRPC_PATHS];
    const contentType = String(headers[h2.HTTP2_HEADER_CONTENT_TYPE] ?? '');
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      let status = 0;
      let message = '';
      try {
        if (signal === undefined) throw new Error(`unknown method ${String(headers[h2.HTTP2_HEADER_PATH])}`);
        if (!contentType.startsWith('application/grpc')) throw new Error(`content-type ${contentType}`);
        const raw = Buffer.concat(chunks);
        if (raw.length < 5) throw new Error('no gRPC message');
        const length = raw.readUInt32BE(1);
        const framed = raw.subarray(5, 5 + length);
        const body = raw[0] === 1 ? gunzipSync(framed) : framed;
        keep(signal, 'grpc', contentType, raw.length, body);
      } catch (err) {
        status = 3; // INVALID_ARGUMENT
        message = String(err);
      }
      stream.respond(
        { [h2.HTTP2_HEADER_STATUS]: 200, 'content-type': 'application/grpc' },
        { waitForTrailers: true },
      );
      stream.on('wantTrailers', () =>
        stream.sendTrailers({
          'grpc-status': String(status),
          ...(message ? { 'grpc-message': encodeURIComponent(message) } : {}),
        }),
      );
      // An empty Export*ServiceResponse: uncompressed, zero length.
      stream.end(status === 0 ? Buffer.from([0, 0, 0, 0, 0]) : undefined);
    });
  });
  const sessions = new Set<ServerHttp2Session>();
  grpc.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => grpc.listen(0, '127.0.0.1', resolve));
  const grpcUrl = `http://127.0.0.1:${(grpc.address() as AddressInfo).port}`;

  const spans = (): ReceivedSpan[] => {
    const out: ReceivedSpan[] = [];
    for (const body of posts.get('/v1/traces') ?? []) {
      for (const rs of (body as { resourceSpans?: unknown[] }).resourceSpans ?? []) {
        const r = rs as { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: unknown[] }[] };
        const resource = attributes(r.resource?.attributes);
        for (const ss of r.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            const span = s as {
              traceId: string;
              spanId: string;
              parentSpanId?: string;
              name: string;
              kind: number;
              status?: { code?: number };
              attributes?: KeyValue[];
            };
            out.push({
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId || undefined,
              name: span.name,
              kind: span.kind,
              statusCode: span.status?.code ?? 0,
              attributes: attributes(span.attributes),
              resource,
            });
          }
        }
      }
    }
    return out;
  };

  const points = (): ReceivedPoint[] => {
    const out: ReceivedPoint[] = [];
    for (const body of posts.get('/v1/metrics') ?? []) {
      for (const rm of (body as { resourceMetrics?: unknown[] }).resourceMetrics ?? []) {
        const r = rm as { resource?: { attributes?: KeyValue[] }; scopeMetrics?: { metrics?: unknown[] }[] };
        const resource = attributes(r.resource?.attributes);
        for (const sm of r.scopeMetrics ?? []) {
          for (const m of sm.metrics ?? []) {
            const metric = m as {
              name: string;
              unit?: string;
              sum?: { dataPoints?: unknown[] };
              gauge?: { dataPoints?: unknown[] };
              histogram?: { dataPoints?: unknown[] };
            };
            const data = metric.sum ?? metric.gauge ?? metric.histogram;
            for (const p of data?.dataPoints ?? []) {
              const point = p as {
                attributes?: KeyValue[];
                asDouble?: number;
                asInt?: string | number;
                count?: string | number;
                sum?: number;
                explicitBounds?: number[];
              };
              out.push({
                metric: metric.name,
                unit: metric.unit ?? '',
                attributes: attributes(point.attributes),
                resource,
                value: Number(metric.histogram ? point.count : (point.asDouble ?? point.asInt)),
                ...(metric.histogram ? { sum: point.sum, explicitBounds: point.explicitBounds } : {}),
              });
            }
          }
        }
      }
    }
    return out;
  };

  return {
    url,
    grpcUrl,
    posts,
    received,
    spans,
    points,
    async waitFor(select, timeoutMs = 10_000) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const found = select();
        if (found) return found;
        if (performance.now() > deadline) {
          throw new Error(
            `OTLP receiver: condition not met within ${timeoutMs} ms (posts: ${[...posts].map(([p, b]) => `${p} ×${b.length}`).join(', ') || 'none'})`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async close() {
      server.closeAllConnections();
      for (const session of sessions) session.destroy();
      await Promise.all([
        new Promise<void>((resolve) => server.close(() => resolve())),
        new Promise<void>((resolve) => grpc.close(() => resolve())),
      ]);
    },
  };
}

/** The media type of a request, without parameters, lower-cased. */
function mediaType(headers: IncomingHttpHeaders): string {
  return (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

function attributes(list: readonly KeyValue[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of list ?? []) {
    if (value.stringValue !== undefined) out[key] = value.stringValue;
    else if (value.intValue !== undefined) out[key] = Number(value.intValue);
    else if (value.doubleValue !== undefined) out[key] = value.doubleValue;
    else if (value.boolValue !== undefined) out[key] = value.boolValue;
  }
  return out;
}
