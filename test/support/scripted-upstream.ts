/**
 * A raw-socket model server for the failover scenario tables: each connection reads one request
 * and then does exactly what its script says, down to the TCP level (a FIN, an RST, silence), so
 * every way an attempt can end is reproducible, before and after the response head.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** What the upstream does with a request. */
export type Script =
  /** A complete JSON completion. */
  | 'json'
  /** A complete SSE stream of three chunks and `[DONE]`. */
  | 'sse'
  /** RST as soon as the request arrived. */
  | 'reset-before-head'
  /** FIN as soon as the request arrived. */
  | 'close-before-head'
  /** Never answers. */
  | 'hang'
  /** A 200 JSON head, then RST before any body byte. */
  | 'head-then-reset'
  /** A 200 SSE head, then nothing. */
  | 'head-then-hang'
  /** A 200 JSON head and half the body, then RST. */
  | 'json-then-reset'
  /** A 200 JSON head and half the body, then FIN. */
  | 'json-then-close'
  /** Two SSE chunks, then RST. */
  | 'sse-then-reset'
  /** Two SSE chunks, then FIN. */
  | 'sse-then-close'
  /** Two SSE chunks, then silence. */
  | 'sse-then-hang'
  /** A 503 with a JSON error body. */
  | 'status-503'
  /** A 429 with `Retry-After: 1`. */
  | 'status-429'
  /** A 301 to an internal address. */
  | 'status-301'
  /** A large SSE stream (`bigChunks` chunks of 16 KiB) as fast as the socket takes it. */
  | 'sse-big';

export interface ScriptedUpstream {
  readonly url: string;
  readonly port: number;
  /** Requests received so far. */
  readonly requests: number;
  /** Changes what later requests get. */
  setScript(script: Script): void;
  close(): Promise<void>;
}

export const BIG_CHUNKS = 320;

const SSE_HEAD =
  'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n';

function chunk(text: string): string {
  return `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
}

function sseEvent(i: number, pad = ''): string {
  return chunk(
    `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: `t${i}${pad}` } }] })}\n\n`,
  );
}

const JSON_BODY = JSON.stringify({
  id: 'cmpl-1',
  object: 'chat.completion',
  choices: [
    { index: 0, message: { role: 'assistant', content: 'hello from upstream' }, finish_reason: 'stop' },
  ],
  usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
});

function jsonResponse(status: number, body: string, extra = ''): string {
  return `HTTP/1.1 ${status} X\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

export async function startScriptedUpstream(initial: Script): Promise<ScriptedUpstream> {
  let script = initial;
  let requests = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (data) => {
      buffered += data.toString('latin1');
      const headEnd = buffered.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const length = Number(/content-length:\s*(\d+)/i.exec(buffered.slice(0, headEnd))?.[1] ?? 0);
      if (buffered.length < headEnd + 4 + length) return;
      buffered = buffered.slice(headEnd + 4 + length);
      requests++;
      act(socket, script);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    get requests() {
      return requests;
    },
    setScript(next) {
      script = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function act(socket: net.Socket, script: Script): void {
  const later = (fn: () => void): void => void setTimeout(fn, 30);
  switch (script) {
    case 'json':
      socket.write(jsonResponse(200, JSON_BODY));
      return;
    case 'sse':
      socket.write(
        SSE_HEAD + sseEvent(1) + sseEvent(2) + sseEvent(3) + chunk('data: [DONE]\n\n') + '0\r\n\r\n',
      );
      return;
    case 'reset-before-head':
      socket.resetAndDestroy();
      return;
    case 'close-before-head':
      socket.end();
      return;
    case 'hang':
      return;
    case 'head-then-reset':
      socket.write(
        `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${JSON_BODY.length}\r\n\r\n`,
      );
      later(() => socket.resetAndDestroy());
      return;
    case 'head-then-hang':
      socket.write(SSE_HEAD);
      return;
    case 'json-then-reset':
    case 'json-then-close': {
      const head = `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${JSON_BODY.length}\r\n\r\n`;
      socket.write(head + JSON_BODY.slice(0, 20));
      later(() => (script === 'json-then-reset' ? socket.resetAndDestroy() : socket.end()));
      return;
    }
    case 'sse-then-reset':
    case 'sse-then-close':
    case 'sse-then-hang':
      socket.write(SSE_HEAD + sseEvent(1) + sseEvent(2));
      if (script === 'sse-then-reset') later(() => socket.resetAndDestroy());
      if (script === 'sse-then-close') later(() => socket.end());
      return;
    case 'status-503':
      socket.write(jsonResponse(503, '{"error":{"message":"overloaded"}}'));
      return;
    case 'status-429':
      socket.write(jsonResponse(429, '{"error":{"message":"slow down"}}', 'retry-after: 1\r\n'));
      return;
    case 'status-301':
      socket.write(jsonResponse(301, '', 'location: http://10.0.0.7:8000/internal\r\n'));
      return;
    case 'sse-big': {
      const pad = 'x'.repeat(16 * 1024);
      let i = 0;
      socket.write(SSE_HEAD);
      const pump = (): void => {
        while (i < BIG_CHUNKS) {
          if (!socket.write(sseEvent(i++, pad))) {
            socket.once('drain', pump);
            return;
          }
        }
        socket.write(chunk('data: [DONE]\n\n') + '0\r\n\r\n');
      };
      pump();
      return;
    }
  }
}
