/**
 * A fake upstream running as its own process (so it can be SIGKILLed like a crashed model
 * server and restarted on the same port), with its control API on a second port.
 */
import type { FakeStatsSnapshot } from './fake-upstream.js';
import { getRestartablePort } from './ports.js';
import { distPath, type ChildHandle, type ProcessGroup } from './processes.js';

export class UpstreamProcess {
  child!: ChildHandle;

  private constructor(
    private readonly group: ProcessGroup,
    readonly name: string,
    readonly port: number,
    readonly controlPort: number,
    private readonly flags: readonly string[],
  ) {}

  static async start(group: ProcessGroup, name: string, flags: readonly string[]): Promise<UpstreamProcess> {
    // Restarted on the same ports after a crash, while routecar keeps retrying them.
    const port = await getRestartablePort();
    const controlPort = await getRestartablePort();
    const upstream = new UpstreamProcess(group, name, port, controlPort, flags);
    await upstream.spawn();
    return upstream;
  }

  get baseURL(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  private get controlUrl(): string {
    return `http://127.0.0.1:${this.controlPort}/__control`;
  }

  /** (Re)starts the process on the same ports and waits until it listens. */
  async spawn(): Promise<void> {
    const args = [
      '--name',
      this.name,
      '--port',
      String(this.port),
      '--control-port',
      String(this.controlPort),
      ...this.flags,
    ];
    this.child = this.group.spawn(distPath('src/demo/main.js'), args, { name: `upstream ${this.name}` });
    await this.child.waitForLine(/listening on/);
  }

  /** A crash: SIGKILL, no chance to close connections gracefully. */
  async crash(): Promise<void> {
    await this.child.kill('SIGKILL');
  }

  async configure(patch: Record<string, unknown>): Promise<void> {
    const res = await fetch(this.controlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(patch),
    });
    if (!res.ok) throw new Error(`${this.name} control: HTTP ${res.status} ${await res.text()}`);
  }

  async stats(): Promise<FakeStatsSnapshot> {
    const res = await fetch(this.controlUrl);
    return ((await res.json()) as { stats: FakeStatsSnapshot }).stats;
  }
}
