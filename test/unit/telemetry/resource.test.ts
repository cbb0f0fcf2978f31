import { afterEach, describe, expect, it, vi } from 'vitest';
import { routecarVersion } from '../../../src/telemetry/package-info.js';
import { baseResourceAttributes, buildResource } from '../../../src/telemetry/resource.js';

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('resource', () => {
  it('names the service routecar, with its version, when nothing else is set', () => {
    vi.stubEnv('OTEL_SERVICE_NAME', '');
    vi.stubEnv('OTEL_RESOURCE_ATTRIBUTES', '');
    const r = buildResource({});
    expect(r.attributes).toMatchObject({
      'service.name': 'routecar',
      'service.version': routecarVersion(),
      'telemetry.sdk.language': 'nodejs',
    });
    expect(routecarVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('adds pod, namespace and node from the downward-API variables, the pod as instance id', () => {
    const attrs = baseResourceAttributes({
      K8S_POD_NAME: 'app-7d9f-x2k',
      K8S_POD_UID: 'uid-1',
      K8S_NAMESPACE_NAME: 'shop',
      K8S_NODE_NAME: 'gpu-node-3',
    });
    expect(attrs).toMatchObject({
      'k8s.pod.name': 'app-7d9f-x2k',
      'k8s.pod.uid': 'uid-1',
      'k8s.namespace.name': 'shop',
      'k8s.node.name': 'gpu-node-3',
      'service.instance.id': 'app-7d9f-x2k',
    });
    expect(baseResourceAttributes({ K8S_POD_NAME: '  ' })).not.toHaveProperty('k8s.pod.name');
  });

  it('puts the sidecar’s zone (ROUTECAR_ZONE) on the resource as cloud.availability_zone', () => {
    vi.stubEnv('OTEL_RESOURCE_ATTRIBUTES', '');
    expect(baseResourceAttributes({}, { zone: 'us-east-1a' })['cloud.availability_zone']).toBe('us-east-1a');
    expect(baseResourceAttributes({}, { zone: ' ' })).not.toHaveProperty('cloud.availability_zone');
    expect(baseResourceAttributes({})).not.toHaveProperty('cloud.availability_zone');
    expect(buildResource({}, { zone: 'z1' }).attributes['cloud.availability_zone']).toBe('z1');
  });

  it('lets OTEL_RESOURCE_ATTRIBUTES and then OTEL_SERVICE_NAME override routecar’s own attributes', () => {
    vi.stubEnv(
      'OTEL_RESOURCE_ATTRIBUTES',
      'service.name=from-attrs,deployment.environment.name=prod,k8s.node.name=override',
    );
    expect(buildResource({ K8S_NODE_NAME: 'gpu-node-3' }).attributes).toMatchObject({
      'service.name': 'from-attrs',
      'deployment.environment.name': 'prod',
      'k8s.node.name': 'override',
    });
    vi.stubEnv('OTEL_SERVICE_NAME', 'sidecar-eu');
    expect(buildResource({}).attributes['service.name']).toBe('sidecar-eu');
  });
});
