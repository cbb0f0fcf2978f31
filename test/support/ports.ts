/**
 * Free ephemeral ports, for processes that must be told their port up front.
 */
import { createServer } from 'node:net';

/** Asks the OS for a free port (listen on 0, read it, close). Another process could take it before use. */
export function getFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}
