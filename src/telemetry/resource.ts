/**
 * The OpenTelemetry resource routecar reports under: `service.name=routecar` (OTEL_SERVICE_NAME
 * and OTEL_RESOURCE_ATTRIBUTES override it), its version, and the pod, namespace and node that a
 * Kubernetes downward API can put in the environment, and the sidecar's zone (`ROUTECAR_ZONE`) as
 * `cloud.availability_zone`.
 */
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
  type Resource,
} from '@opentelemetry/resources';
import { routecarVersion } from './package-info.js';

/** Environment variable → resource attribute, filled by the downward API (see deploy/observability). */
export const K8S_RESOURCE_ENV: Readonly<Record<string, string>> = {
  K8S_POD_NAME: 'k8s.pod.name',
  K8S_POD_UID: 'k8s.pod.uid',
  K8S_NAMESPACE_NAME: 'k8s.namespace.name',
  K8S_NODE_NAME: 'k8s.node.name',
};

export const SERVICE_NAME = 'routecar';

/** The semantic conventions' resource attribute for the zone the resource runs in (`ROUTECAR_ZONE`). */
export const ZONE_ATTRIBUTE = 'cloud.availability_zone';

/** What routecar knows of itself beyond the environment's K8S_* variables. */
export interface ResourceFacts {
  /** This sidecar's zone (RuntimeConfig.zone, from `ROUTECAR_ZONE`); undefined when unknown. */
  readonly zone?: string | undefined;
}

/** routecar's own attributes, before OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME are applied. */
export function baseResourceAttributes(
  env: Readonly<Record<string, string | undefined>>,
  facts: ResourceFacts = {},
): Record<string, string> {
  const attributes: Record<string, string> = {
    'service.name': SERVICE_NAME,
    'service.version': routecarVersion(),
  };
  for (const [variable, key] of Object.entries(K8S_RESOURCE_ENV)) {
    const value = env[variable]?.trim();
    if (value) attributes[key] = value;
  }
  // One pod, one routecar: the pod name is the natural instance id.
  if (attributes['k8s.pod.name']) attributes['service.instance.id'] = attributes['k8s.pod.name'];
  const zone = facts.zone?.trim();
  if (zone) attributes[ZONE_ATTRIBUTE] = zone;
  return attributes;
}

/**
 * The SDK's defaults (telemetry.sdk.*), then routecar's attributes, then OTEL_RESOURCE_ATTRIBUTES
 * and OTEL_SERVICE_NAME from the process environment, each overriding the one before.
 */
export function buildResource(
  env: Readonly<Record<string, string | undefined>> = process.env,
  facts: ResourceFacts = {},
): Resource {
  return defaultResource()
    .merge(resourceFromAttributes(baseResourceAttributes(env, facts)))
    .merge(detectResources({ detectors: [envDetector] }));
}
