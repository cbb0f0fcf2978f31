/**
 * An OTLP/HTTP receiver for end-to-end tests: accepts JSON exports (`OTEL_EXPORTER_OTLP_PROTOCOL=
 * http/json`) on /v1/metrics and /v1/traces, keeps them, and flattens them into spans and metric
 * data points that tests can search.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

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

export interface OtlpReceiver {
  /** `http://127.0.0.1:port`, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly url: string;
  /** Raw JSON bodies per path, in arrival order. */
  readonly posts: ReadonlyMap<string, readonly unknown[]>;
  /** Every span received so far. */
  spans(): ReceivedSpan[];
  /** Every metric data point of every export so far (later exports repeat cumulative points). */
  points(): ReceivedPoint[];
  /** Resolves with `select()` once it returns something truthy; rejects after `timeoutMs`. */
  waitFor<T>(select: () => T | undefined | false, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const posts = new Map<string, unknown[]>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
        if (!posts.has(path)) posts.set(path, []);
        posts.get(path)!.push(body);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":"only OTLP/HTTP JSON is accepted"}');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

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
    posts,
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
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
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
