/**
 * Every routecar command and its options, as data: the parser reads these tables and the help is
 * generated from them, so the two cannot disagree. The code that runs a command is loaded only
 * when that command runs (start.ts, policy.ts).
 */
import type { CommandSpec } from './args.js';

const ENVIRONMENT = `Environment (flags win): ROUTECAR_LISTEN, ROUTECAR_ADMIN_LISTEN, ROUTECAR_POLICY_FILE,
CONSUL_HTTP_ADDR, CONSUL_HTTP_SSL, CONSUL_HTTP_TOKEN, ROUTECAR_CONSUL_PREFIX, ROUTECAR_STATE_DIR,
ROUTECAR_ADMIN_TOKEN, ROUTECAR_ALLOWED_HOSTS, ROUTECAR_ADMIN_ALLOWED_HOSTS, ROUTECAR_MAX_BODY_BYTES,
ROUTECAR_BODY_TIMEOUT_MS,
ROUTECAR_DRAIN_TIMEOUT_MS, ROUTECAR_LOG_LEVEL, ROUTECAR_ACCESS_LOG, ROUTECAR_METRICS_TENANT_LABEL,
ROUTECAR_METRICS_TENANT_LIMIT, ROUTECAR_PROMETHEUS_URL, ROUTECAR_FLEET_INTERVAL_MS, ROUTECAR_ZONE, OTEL_*. See docs/operations.md.`;

export const START = {
  name: 'start',
  summary: 'Run the sidecar: the OpenAI-compatible proxy and the admin listener.',
  usage:
    'start [--policy FILE] [--listen HOST:PORT] [--admin-listen HOST:PORT] [--demo | --demo-if-unreachable]',
  args: [],
  options: {
    policy: {
      type: 'string',
      value: 'FILE',
      description: 'policy file, watched for changes (or ROUTECAR_POLICY_FILE)',
    },
    listen: {
      type: 'string',
      value: 'HOST:PORT',
      description: 'proxy listener for the app (or ROUTECAR_LISTEN; default 127.0.0.1:4100)',
    },
    'admin-listen': {
      type: 'string',
      value: 'HOST:PORT',
      description:
        'admin listener: /healthz, /readyz, /metrics, /admin/* (or ROUTECAR_ADMIN_LISTEN; default 127.0.0.1:4101)',
    },
    demo: {
      type: 'boolean',
      description:
        'try-it mode: the bundled example policy when no source is given, and demo backends as below',
    },
    'demo-if-unreachable': {
      type: 'boolean',
      description: "start fake demo model servers for the policy's loopback backends that nothing answers on",
    },
  },
  details: `A policy source is required, one of:
  --policy FILE                a policy file
  ROUTECAR_POLICY_FILE=FILE    the same, from the environment
  CONSUL_HTTP_ADDR=HOST:PORT   Consul KV: <ROUTECAR_CONSUL_PREFIX>policy (default routecar/policy)
Demo backends answer with made-up completions: they start only with --demo or --demo-if-unreachable.

${ENVIRONMENT}`,
} as const satisfies CommandSpec;

export const POLICY_VALIDATE = {
  name: 'policy validate',
  summary: 'Check a policy file. Exit 0 when valid; otherwise 1, and each error with its place in the file.',
  usage: 'policy validate FILE',
  args: ['FILE'],
  options: {},
  details: 'Errors read FILE:LINE:COLUMN: PATH: MESSAGE (routes.chat.split: weights sum to 0).',
} as const satisfies CommandSpec;

export const POLICY_EXPLAIN = {
  name: 'policy explain',
  summary: 'Print, as JSON, the decision a policy makes for one request, without sending any traffic.',
  usage: 'policy explain FILE --request REQ.json [--header NAME:VALUE]...',
  args: ['FILE'],
  options: {
    request: {
      type: 'string',
      value: 'REQ.json',
      description: 'the request body as the app sends it (or an envelope {"endpoint", "headers", "body"})',
    },
    header: {
      type: 'string',
      short: 'H',
      multiple: true,
      value: 'NAME:VALUE',
      description:
        'a request header, e.g. x-tenant-id:acme, x-priority:batch, x-user-id:u1, x-routecar-backend:NAME',
    },
  },
  details: `Backends are taken as healthy (no traffic, no history). With ROUTECAR_ZONE set, zones are
judged from that zone. Each candidate shows its terms (latency, ttfbP95Ms, errors, cost, load,
affinity) and its zone term. Exit 0 when the request would be served, 2 when it would be refused
(the refusal is in the JSON), 1 on an error.`,
} as const satisfies CommandSpec;

export const POLICY_PUSH = {
  name: 'policy push',
  summary: 'Validate a policy file, then write it to Consul (<prefix>policy) with check-and-set.',
  usage: 'policy push FILE [--cas N]',
  args: ['FILE'],
  options: {
    cas: {
      type: 'string',
      value: 'N',
      description:
        'write only if the key still has this ModifyIndex (0: only if absent); default: the index just read',
    },
  },
  details:
    'Consul from CONSUL_HTTP_ADDR, CONSUL_HTTP_SSL and CONSUL_HTTP_TOKEN (key write on the prefix), prefix from ROUTECAR_CONSUL_PREFIX.',
} as const satisfies CommandSpec;

export const CANARY_RUN = {
  name: 'canary run',
  summary: 'Run the canary controller: promote or roll back the canaries specified in Consul.',
  usage: 'canary run [--session-ttl SECONDS] [--tick-ms MS] [--min-range-s SECONDS] [--id NAME]',
  args: [],
  options: {
    'session-ttl': {
      type: 'string',
      value: 'SECONDS',
      description: "TTL of the controller's Consul session (default 15; Consul's minimum is 10)",
    },
    'tick-ms': {
      type: 'string',
      value: 'MS',
      description: 'longest pause between two passes (default 5000; at least two passes per spec interval)',
    },
    'min-range-s': {
      type: 'string',
      value: 'SECONDS',
      description: 'shortest range the Prometheus figures are read over (default 30: a few scrape intervals)',
    },
    id: {
      type: 'string',
      value: 'NAME',
      description: 'this replica, stored as the lock value (default hostname:pid)',
    },
  },
  details: `Reads specs at <prefix>canary/<route> ({"baseline", "candidate", "steps", "intervalS",
"minRequests", "guards"}), takes the lock <prefix>canary-lock/<route> (a Consul session), writes
<prefix>splits/<route> with check-and-set and <prefix>canary-status/<route>. Run two or more
replicas: one acts per route; when it dies its session lapses and another takes over.
Environment: CONSUL_HTTP_ADDR, CONSUL_HTTP_SSL, CONSUL_HTTP_TOKEN (key write on the prefix,
session write), ROUTECAR_CONSUL_PREFIX, ROUTECAR_PROMETHEUS_URL (required: the fleet's figures;
while it does not answer, canaries pause). See "Canary in 5 minutes" in docs/operations.md.`,
} as const satisfies CommandSpec;

export const CANARY_STATUS = {
  name: 'canary status',
  summary: 'Print the state of every canary (or of ROUTE) from Consul.',
  usage: 'canary status [ROUTE] [--json]',
  args: [],
  optionalArgs: ['ROUTE'],
  options: {
    json: { type: 'boolean', description: 'print one JSON object per route, keyed by route' },
  },
  details:
    'Reads <prefix>canary/, <prefix>canary-status/ and <prefix>canary-lock/ (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN).',
} as const satisfies CommandSpec;

/** The `canary` subcommands, by the word after `canary`. */
export const CANARY_COMMANDS = {
  run: CANARY_RUN,
  status: CANARY_STATUS,
} as const;

export const POLICY_REPLAY = {
  name: 'policy replay',
  summary: "Re-decide every request of routecar's access log under a policy: before, after, changed.",
  usage: 'policy replay FILE --log LOG.jsonl [--json]',
  args: ['FILE'],
  options: {
    log: {
      type: 'string',
      value: 'LOG.jsonl',
      description: 'access log lines (ROUTECAR_ACCESS_LOG=true); other lines are skipped',
    },
    json: {
      type: 'boolean',
      description:
        'print one object {"requests", "changed", "skipped", "health", "backends", "variants", "rules"}',
    },
  },
  details: `Counts, per backend, split variant and rule, the requests recorded there (before) and
where FILE would send them (after: the first backend of the decision, or "none" when refused).
Every backend is assumed healthy (the log does not record health); randomness is seeded, so two
runs agree. Prompt text is not logged: rules matching prompt text see none. User ids are logged
hashed: sticky splits keep each user together, not necessarily on the arm their real id gets.`,
} as const satisfies CommandSpec;

/** The `policy` subcommands, by the word after `policy`. */
export const POLICY_COMMANDS = {
  validate: POLICY_VALIDATE,
  explain: POLICY_EXPLAIN,
  push: POLICY_PUSH,
  replay: POLICY_REPLAY,
} as const;

/** Every command, in the order the help lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  START,
  POLICY_VALIDATE,
  POLICY_EXPLAIN,
  POLICY_PUSH,
  POLICY_REPLAY,
  CANARY_RUN,
  CANARY_STATUS,
];
