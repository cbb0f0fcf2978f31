/**
 * The baseline routecar is compared with: a bare express + http-proxy-middleware pass-through,
 * with the same upstream connection settings routecar's BackendProxy uses (keep-alive agent,
 * 256 sockets, 64 idle, changeOrigin). No body parsing, no routing, no breaker, no telemetry:
 * what is left is the cost of express + http-proxy-middleware themselves.
 *
 *   node bench/baseline-proxy.js --target http://127.0.0.1:8101 [--port 0] [--host 127.0.0.1]
 *
 * Prints `baseline proxy listening on http://HOST:PORT` once ready; exits on SIGTERM / SIGINT.
 * The app path is kept as is (`/v1/chat/completions` reaches the upstream unchanged): the proxy
 * is mounted at the root, so express does not strip a mount path from req.url.
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';

const { values } = parseArgs({
  options: {
    target: { type: 'string' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
if (!values.target) {
  console.error('baseline-proxy: --target URL is required');
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64 });
const app = express();
app.disable('x-powered-by');
app.disable('etag');
app.use(createProxyMiddleware({ target: values.target, changeOrigin: true, agent }));

const server = app.listen(Number(values.port), values.host, () => {
  const { address, port } = server.address();
  console.log(`baseline proxy listening on http://${address}:${port}`);
});
const stop = () => {
  agent.destroy();
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
