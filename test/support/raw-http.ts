/**
 * Raw HTTP/1.1 over node:net, for requests no HTTP client would send (absolute-form targets,
 * smuggling shapes, pipelining): writes bytes as given and reads until the server closes.
 */
import net from 'node:net';

/** What came back on one connection. */
export interface RawExchange {
  /** Everything the server sent, as text. */
  readonly text: string;
  /** Status of the first response; undefined when nothing parseable arrived. */
  readonly status: number | undefined;
  /** Headers of the first response, names lowercased (last one wins). */
  readonly headers: Readonly<Record<string, string>>;
  /** Body of the first response (as sent: chunked framing is not decoded). */
  readonly body: string;
  /** Status lines of every response, in order (pipelining). */
  readonly statuses: readonly number[];
  /** How the exchange ended: the server closed ('closed'), reset ('reset'), or we timed out ('timeout'). */
  readonly end: 'closed' | 'reset' | 'timeout';
}

export interface RawRequestOptions {
  /** Give up (and destroy the socket) after this; default 5000 ms. */
  readonly timeoutMs?: number;
  /**
   * Called once the first response bytes arrived, with a function that writes more on the same
   * connection (e.g. to signal the server mid-response, then send a second request).
   */
  readonly onFirstData?: (write: (data: string) => void) => void | Promise<void>;
}

/** Connects, writes `raw` and reads until the server closes the connection (or the timeout). */
export function rawRequest(
  port: number,
  raw: string,
  options: RawRequestOptions = {},
  host = '127.0.0.1',
): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (end: RawExchange['end']): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parseRaw(Buffer.concat(chunks).toString('latin1'), end));
    };
    const timer = setTimeout(() => finish('timeout'), options.timeoutMs ?? 5_000);
    socket.on('data', (chunk: Buffer) => {
      if (chunks.length === 0) void options.onFirstData?.((data) => socket.write(data));
      chunks.push(chunk);
    });
    socket.on('end', () => finish('closed'));
    socket.on('close', () => finish('closed'));
    socket.on('error', () => finish('reset'));
    socket.write(raw);
  });
}

/** Resolves with the error code of a connection attempt (`ECONNREFUSED`), or 'connected'. */
export function tryConnect(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

function parseRaw(text: string, end: RawExchange['end']): RawExchange {
  const statuses = [...text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
  const headEnd = text.indexOf('\r\n\r\n');
  const headers: Record<string, string> = {};
  let status: number | undefined;
  let body = '';
  if (headEnd >= 0) {
    const [statusLine, ...lines] = text.slice(0, headEnd).split('\r\n');
    status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]) || undefined;
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const rest = text.slice(headEnd + 4);
    const length = Number(headers['content-length']);
    body = Number.isInteger(length) ? rest.slice(0, length) : rest;
  }
  return { text, status, headers, body, statuses, end };
}
