/**
 * Free ports, for processes that must be told their port up front.
 */
import { readFileSync } from 'node:fs';
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

/** Where restartable ports are drawn from: above the usual service ports, below the ephemeral range. */
const RESTARTABLE_FROM = 20_000;
/** Ports this process handed out: two listeners of one test never draw the same. */
const handedOut = new Set<number>();

/**
 * A free port below the kernel's ephemeral range, for a listener that is stopped and started
 * again on the same port (a crashed model server, Consul going down). While such a listener is
 * down, a port inside the ephemeral range can be taken from under it: as the local port of any
 * outgoing connection, or by a client retrying the downed listener whose connection happens to
 * pick that same port as its source (TCP self-connect, which Linux allows).
 */
export async function getRestartablePort(host = '127.0.0.1'): Promise<number> {
  const below = ephemeralRangeStart();
  for (let tries = 0; tries < 50; tries++) {
    const port = RESTARTABLE_FROM + Math.floor(Math.random() * (below - RESTARTABLE_FROM));
    if (handedOut.has(port) || !(await canListen(port, host))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port between ${RESTARTABLE_FROM} and ${below} after 50 tries`);
}

/** The first ephemeral port (Linux's `ip_local_port_range`); 32768 where it cannot be read. */
function ephemeralRangeStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > RESTARTABLE_FROM + 1_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
