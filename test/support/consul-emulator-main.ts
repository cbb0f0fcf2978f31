/**
 * The Consul emulator as its own process, for end-to-end tests that kill and restart other
 * processes around it: `node dist/test/support/consul-emulator-main.js [--session-ttl-min-ms N]`
 * prints one JSON line `{"msg": "consul emulator listening", "url": "http://127.0.0.1:<port>"}`
 * and serves until SIGTERM.
 */
import { ConsulEmulator } from './consul-emulator.js';

const at = process.argv.indexOf('--session-ttl-min-ms');
const sessionTtlMinMs = at === -1 ? undefined : Number(process.argv[at + 1]);
const emulator = await new ConsulEmulator({ sessionTtlMinMs }).start();
console.log(JSON.stringify({ msg: 'consul emulator listening', url: emulator.url }));
const close = (): void => void emulator.close().then(() => process.exit(0));
process.once('SIGTERM', close);
process.once('SIGINT', close);
