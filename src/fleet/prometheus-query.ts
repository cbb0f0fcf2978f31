/**
 * One instant query against a Prometheus-compatible HTTP API (Prometheus, Thanos, Mimir,
 * VictoriaMetrics): `GET <base>/api/v1/query?query=<PromQL>`, answered with
 * `{"status":"success","data":{"resultType":"vector","result":[{"metric":{...},"value":[ts,"v"]}]}}`.
 * Anything else (an error status, `{"status":"error"}`, another result type, a page that is not
 * that JSON) is a {@link FleetQueryError}.
 */

/** Thrown for every way a query can fail; the fleet view only records it. */
export class FleetQueryError extends Error {
  readonly code = 'ROUTECAR_FLEET_QUERY';
  constructor(message: string) {
    super(message);
    this.name = 'FleetQueryError';
  }
}

/** Most bytes of an answer read: a vector per backend is a few hundred bytes per series. */
export const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * The vector's values by the value of label `by` (series without it, or with a value that is not
 * a finite number, are skipped). `signal` aborts the request.
 */
export async function queryVector(
  baseUrl: string,
  query: string,
  by: string,
  signal: AbortSignal,
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const series of await querySeries(baseUrl, query, signal)) {
    const key = series.labels[by];
    if (key !== undefined) out.set(key, series.value);
  }
  return out;
}

/** One series of an instant vector: its labels and its value. */
export interface VectorSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The vector's series whose value is a finite number, with their whole label sets. */
export async function querySeries(
  baseUrl: string,
  query: string,
  signal: AbortSignal,
): Promise<VectorSeries[]> {
  const url = `${baseUrl.replace(/\/+$/, '')}/api/v1/query?query=${encodeURIComponent(query)}`;
  const res = await fetch(url, { signal, headers: { accept: 'application/json' } });
  const text = await readBounded(res);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new FleetQueryError(`HTTP ${res.status}: not JSON`);
  }
  if (!isRecord(body)) throw new FleetQueryError(`HTTP ${res.status}: not a query answer`);
  if (body.status !== 'success') {
    const detail = typeof body.error === 'string' ? `: ${body.error.slice(0, 200)}` : '';
    throw new FleetQueryError(`HTTP ${res.status}: status ${String(body.status)}${detail}`);
  }
  const data = body.data;
  if (!isRecord(data) || data.resultType !== 'vector' || !Array.isArray(data.result)) {
    throw new FleetQueryError('not an instant vector');
  }
  const out: VectorSeries[] = [];
  for (const series of data.result) {
    if (!isRecord(series) || !isRecord(series.metric) || !Array.isArray(series.value)) continue;
    const raw: unknown = series.value[1];
    const value = typeof raw === 'string' ? Number(raw) : NaN;
    if (!Number.isFinite(value)) continue;
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(series.metric)) if (typeof v === 'string') labels[k] = v;
    out.push({ labels, value });
  }
  return out;
}

async function readBounded(res: Response): Promise<string> {
  if (res.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > MAX_ANSWER_BYTES) throw new FleetQueryError(`answer larger than ${MAX_ANSWER_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
