/**
 * deploy/kubernetes, deploy/consul and docker-compose.yml, parsed and checked against the code's
 * own defaults (listen addresses, admin paths, environment variables, the image's entrypoint,
 * the demo fleet's ports), so the examples cannot drift from what routecar actually does.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import {
  DEFAULT_ADMIN_LISTEN,
  DEFAULT_CONSUL_PREFIX,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_LISTEN,
  parseListen,
  resolveConfig,
} from '../../../src/cli/config.js';
import { DEMO_CONTROL_PORT, DEMO_FLEET } from '../../../src/demo/fleet.js';
import { HEALTHZ_PATH, METRICS_PATH, READYZ_PATH } from '../../../src/server/admin-app.js';
import { createHostCheck } from '../../../src/server/hardening.js';
import { K8S_RESOURCE_ENV } from '../../../src/telemetry/resource.js';
import { envOf, last, parseDockerfile } from '../../support/dockerfile.js';
import { REPO_ROOT } from '../../support/processes.js';

type Obj = Record<string, unknown>;
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  restartPolicy?: string;
  ports?: { name?: string; containerPort: number }[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
  }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Obj & { runAsUser?: number; readOnlyRootFilesystem?: boolean };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}

const K8S_DIR = join(REPO_ROOT, 'deploy/kubernetes');
const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8');

/** Every YAML document of a file, failing on any parse error. */
function docs(path: string): Obj[] {
  const parsed = parseAllDocuments(readFileSync(path, 'utf8'));
  for (const d of parsed)
    expect(d.errors, `${path}: ${d.errors.map((e) => e.message).join('; ')}`).toEqual([]);
  return parsed.map((d) => d.toJS() as Obj).filter((d) => d !== null);
}

const manifests = readdirSync(K8S_DIR)
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((f) => docs(join(K8S_DIR, f)).map((doc) => ({ file: f, doc })));
const kustomization = docs(join(K8S_DIR, 'kustomization.yaml'))[0] as { resources: string[] };
const applied = manifests.filter((m) => kustomization.resources.includes(m.file));

function find(kind: string, from = manifests): Obj {
  const found = from.filter((m) => m.doc.kind === kind);
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0]!.doc;
}

const deployment = find('Deployment') as {
  spec: { template: { metadata: { labels: Obj; annotations: Record<string, string> }; spec: Obj } };
};
const podSpec = deployment.spec.template.spec as {
  initContainers: Container[];
  containers: Container[];
  terminationGracePeriodSeconds: number;
  volumes: { name: string; emptyDir?: Obj }[];
};
const configMap = find('ConfigMap') as { metadata: { name: string }; data: Record<string, string> };
const secret = find('Secret') as {
  metadata: { name: string };
  stringData?: Record<string, string>;
  data?: Record<string, string>;
};
const sidecar = podSpec.initContainers.find((c) => c.name === 'routecar')!;
const proxyDefault = parseListen(DEFAULT_LISTEN, 'DEFAULT_LISTEN');
const adminDefault = parseListen(DEFAULT_ADMIN_LISTEN, 'DEFAULT_ADMIN_LISTEN');
const image = parseDockerfile(read('Dockerfile'));

/** The variables `resolveConfig` reads, found by handing it an environment that records reads. */
function variablesReadByConfig(): Set<string> {
  const seen = new Set<string>();
  const env = new Proxy({} as NodeJS.ProcessEnv, {
    get(_t, key) {
      if (typeof key === 'string') seen.add(key);
      return key === 'CONSUL_HTTP_ADDR' ? 'consul:8500' : undefined;
    },
  });
  resolveConfig({}, env);
  return seen;
}

/** Every ROUTECAR_/CONSUL_/OTEL_ name that appears in src, plus the standard OTel SDK variables. */
function variablesKnownToSrc(): Set<string> {
  const names = new Set<string>([
    'OTEL_SERVICE_NAME',
    'OTEL_RESOURCE_ATTRIBUTES',
    ...Object.keys(K8S_RESOURCE_ENV),
  ]);
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        for (const m of readFileSync(path, 'utf8').matchAll(/\b(?:ROUTECAR|CONSUL|OTEL)_[A-Z0-9_]+\b/g))
          names.add(m[0]);
      }
    }
  };
  walk(join(REPO_ROOT, 'src'));
  return names;
}

function portNamed(c: Container, name: string | number): number {
  if (typeof name === 'number') return name;
  const port = c.ports?.find((p) => p.name === name);
  expect(port, `${c.name} has a port named ${name}`).toBeDefined();
  return port!.containerPort;
}

/** Kubernetes quantity → bytes or cores. */
function quantity(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi)?$/.exec(q);
  if (!m) throw new Error(`quantity ${q}`);
  const scale = { m: 1e-3, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * scale;
}

describe('kustomization', () => {
  it('lists files that exist, and only kinds every cluster has (applies as is)', () => {
    for (const r of kustomization.resources) expect(existsSync(join(K8S_DIR, r)), r).toBe(true);
    for (const m of applied) expect(['ConfigMap', 'Secret', 'Deployment', 'Service']).toContain(m.doc.kind);
    expect(applied.map((m) => m.doc.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Secret']);
  });
});

describe('the routecar native sidecar', () => {
  it('is an init container with restartPolicy Always, next to the app container', () => {
    expect(sidecar).toBeDefined();
    expect(sidecar.restartPolicy).toBe('Always');
    expect(podSpec.containers.some((c) => c.name !== 'routecar')).toBe(true);
  });

  it("runs the image's entrypoint (the routecar bin) with `start`", () => {
    expect(sidecar.command, 'command would replace tini and the bin').toBeUndefined();
    expect(sidecar.args).toEqual(['start']);
    const entrypoint = last(image.final, 'ENTRYPOINT')!.exec!;
    const pkg = JSON.parse(read('package.json')) as { bin: { routecar: string } };
    expect(entrypoint.at(-1)).toBe(pkg.bin.routecar);
  });

  it('declares the proxy and admin ports of the code defaults', () => {
    expect(portNamed(sidecar, 'routecar')).toBe(proxyDefault.port);
    expect(portNamed(sidecar, 'routecar-admin')).toBe(adminDefault.port);
  });

  it('listens where the ConfigMap says: proxy on loopback, admin on the pod IP, same ports', () => {
    const proxy = parseListen(configMap.data.ROUTECAR_LISTEN!, 'ROUTECAR_LISTEN');
    const admin = parseListen(configMap.data.ROUTECAR_ADMIN_LISTEN!, 'ROUTECAR_ADMIN_LISTEN');
    expect(proxy).toEqual(proxyDefault);
    expect(admin).toEqual({ host: '0.0.0.0', port: portNamed(sidecar, 'routecar-admin') });
  });

  it('probes readiness on /readyz and liveness and startup on /healthz of the admin port', () => {
    const adminPort = portNamed(sidecar, 'routecar-admin');
    const probes = {
      readinessProbe: READYZ_PATH,
      livenessProbe: HEALTHZ_PATH,
      startupProbe: HEALTHZ_PATH,
    } as const;
    for (const [probe, path] of Object.entries(probes)) {
      const get = sidecar[probe as keyof typeof probes]?.httpGet;
      expect(get?.path, probe).toBe(path);
      expect(portNamed(sidecar, get!.port), probe).toBe(adminPort);
    }
  });

  it('takes every other setting from the ConfigMap and the Consul and admin tokens from the Secret', () => {
    expect(sidecar.envFrom?.map((e) => e.configMapRef?.name)).toEqual([configMap.metadata.name]);
    const fromSecret = Object.fromEntries(
      (sidecar.env ?? [])
        .filter((e) => e.valueFrom?.secretKeyRef)
        .map((e) => [e.name, e.valueFrom!.secretKeyRef!]),
    );
    expect(Object.keys(fromSecret).sort()).toEqual(['CONSUL_HTTP_TOKEN', 'ROUTECAR_ADMIN_TOKEN']);
    const secretKeys = Object.keys({ ...secret.stringData, ...secret.data });
    for (const ref of Object.values(fromSecret)) {
      expect(ref.name).toBe(secret.metadata.name);
      expect(secretKeys).toContain(ref.key);
    }
    for (const key of Object.keys(configMap.data)) expect(key).not.toMatch(/TOKEN|SECRET|PASSWORD|_KEY$/);
  });

  it('uses only environment variables routecar reads', () => {
    const readByConfig = variablesReadByConfig();
    for (const name of [
      'ROUTECAR_LISTEN',
      'ROUTECAR_ADMIN_LISTEN',
      'CONSUL_HTTP_ADDR',
      'CONSUL_HTTP_TOKEN',
      'ROUTECAR_ADMIN_TOKEN',
      'ROUTECAR_DRAIN_TIMEOUT_MS',
    ]) {
      expect(readByConfig, name).toContain(name);
    }
    const known = variablesKnownToSrc();
    const used = [...Object.keys(configMap.data), ...(sidecar.env ?? []).map((e) => e.name)];
    for (const name of used) expect(known, `${name} is not read by routecar`).toContain(name);
    // The downward-API variables carry the fields the telemetry resource expects, and the zone.
    const fieldRefs: Record<string, string> = Object.fromEntries(
      (sidecar.env ?? [])
        .filter((e) => e.valueFrom?.fieldRef)
        .map((e) => [e.name, e.valueFrom!.fieldRef!.fieldPath]),
    );
    expect(Object.keys(fieldRefs).sort()).toEqual([...Object.keys(K8S_RESOURCE_ENV), 'ROUTECAR_ZONE'].sort());
    expect(fieldRefs.ROUTECAR_ZONE).toBe("metadata.labels['topology.kubernetes.io/zone']");
    expect(resolveConfig({}, { ROUTECAR_ZONE: 'us-east-1a' }).zone).toBe('us-east-1a');
    expect(resolveConfig({}, { ROUTECAR_ZONE: '' }).zone).toBeUndefined();
  });

  it('resolves to a valid configuration (what the sidecar will start with)', () => {
    const config = resolveConfig(
      {},
      { ...configMap.data, CONSUL_HTTP_TOKEN: 'x', ROUTECAR_ADMIN_TOKEN: 'y' },
    );
    expect(config.consul?.prefix).toBe(DEFAULT_CONSUL_PREFIX);
    expect(config.adminToken).toBe('y');
    expect(config.drainTimeoutMs).toBe(DEFAULT_DRAIN_TIMEOUT_MS);
  });

  it('gets its policy from Consul, and runs no demo backends', () => {
    const config = resolveConfig({}, configMap.data);
    expect(config.consul).toBeDefined();
    expect((sidecar.args ?? []).filter((a) => a.startsWith('--demo'))).toEqual([]);
  });

  it('answers the kubelet and Prometheus, which connect to the pod IP (no Host override)', () => {
    const config = resolveConfig({}, configMap.data);
    const podIp = '10.244.3.17';
    const check = createHostCheck({
      listenHost: config.adminListen.host,
      allowedHosts: config.adminAllowedHosts,
      interfaceAddresses: [podIp],
    });
    expect(check(podIp)).toBe(true);
    for (const probe of [sidecar.readinessProbe, sidecar.livenessProbe, sidecar.startupProbe]) {
      expect(
        (probe?.httpGet as { httpHeaders?: { name: string }[] } | undefined)?.httpHeaders?.some(
          (h) => h.name.toLowerCase() === 'host',
        ) ?? false,
      ).toBe(false);
    }
  });

  it('gives the pod more grace than the drain deadline', () => {
    const drainMs = Number(configMap.data.ROUTECAR_DRAIN_TIMEOUT_MS ?? DEFAULT_DRAIN_TIMEOUT_MS);
    expect(podSpec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(drainMs + 10_000);
  });

  it('mounts a writable state dir where ROUTECAR_STATE_DIR points, the same as the image', () => {
    const stateDir = configMap.data.ROUTECAR_STATE_DIR!;
    expect(stateDir).toBe(envOf(image.final).ROUTECAR_STATE_DIR);
    const mount = sidecar.volumeMounts?.find((m) => m.mountPath === stateDir);
    expect(mount).toBeDefined();
    expect(podSpec.volumes.find((v) => v.name === mount!.name)?.emptyDir).toBeDefined();
  });

  it("runs as the image's non-root user with a read-only root filesystem", () => {
    const uid = Number(last(image.final, 'USER')!.args.split(':')[0]);
    expect(sidecar.securityContext?.runAsUser).toBe(uid);
    expect(sidecar.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(sidecar.securityContext?.allowPrivilegeEscalation).toBe(false);
  });

  it('has resource requests and limits (sized in the comment above them)', () => {
    const { requests, limits } = sidecar.resources ?? {};
    for (const r of ['cpu', 'memory']) {
      expect(requests?.[r], `requests.${r}`).toBeDefined();
      expect(limits?.[r], `limits.${r}`).toBeDefined();
      expect(quantity(limits![r]!)).toBeGreaterThanOrEqual(quantity(requests![r]!));
    }
    // Above the idle footprint of a Node 24 process with routecar loaded (98 MiB measured).
    expect(quantity(requests!.memory!)).toBeGreaterThanOrEqual(128 * 1024 ** 2);
    expect(read('deploy/kubernetes/deployment.yaml')).toMatch(/measure-footprint\.mjs/);
  });

  it("points the app's OpenAI base URL at the sidecar on localhost", () => {
    const app = podSpec.containers[0]!;
    const base = app.env?.find((e) => e.name === 'OPENAI_BASE_URL')?.value;
    expect(base).toBe(`http://localhost:${proxyDefault.port}/v1`);
  });
});

describe('scraping', () => {
  it('annotates the pod for Prometheus with the admin port and the metrics path', () => {
    const a = deployment.spec.template.metadata.annotations;
    expect(a['prometheus.io/scrape']).toBe('true');
    expect(Number(a['prometheus.io/port'])).toBe(portNamed(sidecar, 'routecar-admin'));
    expect(a['prometheus.io/path']).toBe(METRICS_PATH);
  });

  it('offers a PodMonitor on the named admin port that selects the pod', () => {
    const monitor = find('PodMonitor') as {
      spec: { selector: { matchLabels: Obj }; podMetricsEndpoints: { port: string; path: string }[] };
    };
    const [endpoint] = monitor.spec.podMetricsEndpoints;
    expect(portNamed(sidecar, endpoint!.port)).toBe(adminDefault.port);
    expect(endpoint!.path).toBe(METRICS_PATH);
    expect(deployment.spec.template.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
  });
});

describe('deploy/consul', () => {
  const rules = (file: string): Record<string, string> =>
    Object.fromEntries(
      [
        ...read(`deploy/consul/${file}`).matchAll(/key_prefix\s+"([^"]*)"\s*\{\s*policy\s*=\s*"(\w+)"\s*\}/g),
      ].map((m) => [m[1]!, m[2]!]),
    );

  it('lets sidecars read the watched prefix and nothing else, and operators write it', () => {
    const prefix = configMap.data.ROUTECAR_CONSUL_PREFIX ?? DEFAULT_CONSUL_PREFIX;
    expect(rules('routecar-sidecar.hcl')).toEqual({ [prefix]: 'read' });
    expect(rules('routecar-operator.hcl')).toEqual({ [prefix]: 'write' });
    // No other rule kinds sneak in (a `key_prefix "" { policy = "read" }` would read all of KV).
    for (const file of ['routecar-sidecar.hcl', 'routecar-operator.hcl']) {
      const code = read(`deploy/consul/${file}`).replace(/#.*$/gm, '');
      expect(code.match(/^\s*[a-z_]+\s+"/gm)?.length, file).toBe(1);
    }
  });
});

describe('docker-compose.yml', () => {
  const compose = parseYaml(read('docker-compose.yml')) as {
    services: Record<string, Obj & { environment?: Record<string, string>; ports?: string[] }>;
  };
  const services = compose.services;
  const routecar = services.routecar!;
  const published = (ports: string[] | undefined): Map<number, number> =>
    new Map(
      (ports ?? []).map((p) => p.split(':').map(Number)).map((parts) => [parts.at(-1)!, parts.at(-2)!]),
    );

  it('has Consul, a seed job, routecar, the demo models, Prometheus and Grafana', () => {
    expect(Object.keys(services).sort()).toEqual([
      'consul',
      'consul-seed',
      'grafana',
      'models',
      'prometheus',
      'routecar',
    ]);
    expect(services.consul!.image).toMatch(/^hashicorp\/consul:\d+\.\d+\.\d+$/);
    expect(services.consul!.command).toContain('-dev');
  });

  it('starts routecar with a policy source and no demo flag (the demo models are their own service)', () => {
    expect(resolveConfig({}, routecar.environment!).consul).toBeDefined();
    expect(((routecar.command as string[] | undefined) ?? []).filter((a) => a.startsWith('--demo'))).toEqual(
      [],
    );
  });

  it('builds routecar from this Dockerfile and points it at the Consul service', () => {
    expect(routecar.build).toBe('.');
    const env = routecar.environment!;
    expect(new URL(env.CONSUL_HTTP_ADDR!).hostname).toBe('consul');
    const known = variablesKnownToSrc();
    for (const name of Object.keys(env)) expect(known, name).toContain(name);
    expect(routecar.depends_on).toMatchObject({
      'consul-seed': { condition: 'service_completed_successfully' },
    });
  });

  it('publishes the proxy and admin ports of its listen addresses, on the host loopback only', () => {
    const env = routecar.environment!;
    const ports = published(routecar.ports);
    expect(ports.get(parseListen(env.ROUTECAR_LISTEN!, 'ROUTECAR_LISTEN').port)).toBe(proxyDefault.port);
    expect(ports.get(parseListen(env.ROUTECAR_ADMIN_LISTEN!, 'ROUTECAR_ADMIN_LISTEN').port)).toBe(
      adminDefault.port,
    );
    for (const p of routecar.ports ?? []) expect(p).toMatch(/^127\.0\.0\.1:/);
    // Off loopback inside the container, so the admin token is set.
    expect(env.ROUTECAR_ADMIN_TOKEN).toBeTruthy();
  });

  it('gives routecar more time to stop than its drain deadline', () => {
    const grace = /^(\d+)s$/.exec(String(routecar.stop_grace_period))![1];
    expect(Number(grace) * 1000).toBeGreaterThan(
      Number(routecar.environment!.ROUTECAR_DRAIN_TIMEOUT_MS ?? DEFAULT_DRAIN_TIMEOUT_MS),
    );
  });

  it("runs the demo fleet in routecar's network namespace, where policies/default.yaml expects its backends", () => {
    const models = services.models as {
      image: string;
      network_mode: string;
      entrypoint: string[];
      command: string[];
    };
    expect(models.image).toBe(routecar.image);
    expect(models.network_mode).toBe('service:routecar');
    expect(models.entrypoint.slice(-2)).toEqual(['node', 'dist/src/demo/main.js']);
    expect(existsSync(join(REPO_ROOT, 'src/demo/main.ts'))).toBe(true);
    expect(models.command).toContain('--fleet');
    const policy = parseYaml(read('policies/default.yaml')) as { backends: Record<string, { url: string }> };
    const fleetPorts = DEMO_FLEET.map((b) => b.port);
    for (const [name, b] of Object.entries(policy.backends)) {
      const url = new URL(b.url);
      expect(url.hostname, name).toBe('127.0.0.1');
      expect(fleetPorts, name).toContain(Number(url.port));
    }
    expect(published(routecar.ports).get(DEMO_CONTROL_PORT)).toBe(DEMO_CONTROL_PORT);
  });

  it('seeds Consul with deploy/consul/seed.sh and the default policy', () => {
    const seed = services['consul-seed'] as {
      entrypoint: string[];
      volumes: string[];
      working_dir: string;
      environment: Record<string, string>;
    };
    expect(seed.entrypoint).toEqual(['/bin/sh', 'deploy/consul/seed.sh', 'policies/default.yaml']);
    expect(existsSync(join(REPO_ROOT, 'deploy/consul/seed.sh'))).toBe(true);
    const mounts = new Map(seed.volumes.map((v) => v.split(':')).map(([src, dst]) => [dst!, src!]));
    expect(mounts.get(`${seed.working_dir}/policies`)).toBe('./policies');
    expect(mounts.get(`${seed.working_dir}/deploy/consul`)).toBe('./deploy/consul');
    expect(seed.environment.CONSUL_HTTP_ADDR).toBe(routecar.environment!.CONSUL_HTTP_ADDR);
  });

  it("scrapes routecar's admin listener and provisions Grafana with it", () => {
    const prom = services.prometheus as { volumes: string[] };
    const configPath = prom.volumes
      .find((v) => v.endsWith(':/etc/prometheus/prometheus.yml:ro'))!
      .split(':')[0]!;
    const config = parseYaml(read(configPath)) as {
      scrape_configs: { metrics_path?: string; static_configs: { targets: string[] }[] }[];
    };
    const job = config.scrape_configs[0]!;
    expect(job.metrics_path ?? '/metrics').toBe(METRICS_PATH);
    expect(job.static_configs[0]!.targets).toEqual([`routecar:${adminDefault.port}`]);
    // Prometheus sends the target as Host: routecar's admin listener must answer to that name.
    const settings = resolveConfig({}, routecar.environment!);
    const hostAllowed = createHostCheck({
      listenHost: settings.adminListen.host,
      allowedHosts: settings.adminAllowedHosts,
      interfaceAddresses: [],
    });
    expect(hostAllowed('routecar')).toBe(true);
    const grafana = services.grafana as { volumes: string[] };
    for (const v of grafana.volumes) {
      const src = v.split(':')[0]!;
      if (src !== './deploy/observability') expect(existsSync(join(REPO_ROOT, src)), src).toBe(true);
    }
    const datasource = parseYaml(read('deploy/compose/grafana/provisioning/datasources/prometheus.yml')) as {
      datasources: { url: string }[];
    };
    expect(datasource.datasources[0]!.url).toBe('http://prometheus:9090');
  });
});
