#!/usr/bin/env -S node --max-semi-space-size=8
/**
 * The `routecar` command: `start`, and the `policy` tools (`validate`, `explain`, `push`).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { UNKNOWN_HEALTH } from '../health/types.js';
import { formatPolicyError } from '../policy/errors.js';
import { parsePolicy } from '../policy/parse.js';
import { explainRequest } from '../server/explain.js';
import { RoutecarError } from '../server/errors.js';
import { consulBaseUrl, DEFAULT_CONSUL_PREFIX } from './config.js';

/** The example policy shipped with routecar, used when no source is configured. */
export const BUNDLED_POLICY = fileURLToPath(new URL('../../../policies/default.yaml', import.meta.url));

const USAGE = `usage:
  routecar start [--policy FILE] [--listen HOST:PORT] [--admin-listen HOST:PORT] [--demo-if-unreachable]
  routecar policy validate FILE
  routecar policy explain FILE --request REQ.json
  routecar policy push FILE [--cas N]

Environment: ROUTECAR_LISTEN, ROUTECAR_ADMIN_LISTEN, ROUTECAR_POLICY_FILE, CONSUL_HTTP_ADDR,
CONSUL_HTTP_TOKEN, ROUTECAR_CONSUL_PREFIX, ROUTECAR_STATE_DIR, ROUTECAR_ADMIN_TOKEN,
ROUTECAR_MAX_BODY_BYTES, ROUTECAR_DRAIN_TIMEOUT_MS, ROUTECAR_ALLOWED_HOSTS, ROUTECAR_LOG_LEVEL, OTEL_*.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start': {
      // Only `start` needs the server stack (express, proxy, breakers, telemetry): the policy
      // tools start in a fraction of the time without it.
      const { startCommand } = await import('./start.js');
      return startCommand(rest, BUNDLED_POLICY);
    }
    case 'policy':
      return policyCommand(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      console.log(USAGE);
      return command === undefined ? 1 : 0;
    default:
      console.error(`routecar: unknown command "${command}"\n${USAGE}`);
      return 1;
  }
}

async function policyCommand(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { request: { type: 'string' }, cas: { type: 'string' } },
  });
  const [sub, file] = positionals;
  if (!file || !['validate', 'explain', 'push'].includes(sub ?? '')) {
    console.error(USAGE);
    return 1;
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    console.error(`${file}: ${(err as Error).message}`);
    return 1;
  }
  const parsed = parsePolicy(text);
  if (!parsed.ok) {
    for (const e of parsed.errors) console.error(formatPolicyError(e));
    console.error(`${file}: ${parsed.errors.length} error(s); policy refused`);
    return 1;
  }
  if (sub === 'validate') {
    const p = parsed.policy;
    console.log(
      `${file}: valid (version ${p.version}; ${p.backends.size} backends, ${p.routes.size} routes, ${p.rules.length} rules)`,
    );
    return 0;
  }
  if (sub === 'explain') {
    if (!values.request) {
      console.error('routecar policy explain FILE --request REQ.json');
      return 1;
    }
    try {
      const raw = await readFile(values.request);
      const explanation = explainRequest(parsed.policy, () => UNKNOWN_HEALTH, raw, {});
      console.log(JSON.stringify(explanation, null, 2));
      return explanation.result.ok ? 0 : 2;
    } catch (err) {
      console.error(
        err instanceof RoutecarError ? `${values.request}: ${err.message}` : (err as Error).message,
      );
      return 1;
    }
  }
  const addr = process.env.CONSUL_HTTP_ADDR;
  if (!addr) {
    console.error('routecar policy push needs CONSUL_HTTP_ADDR');
    return 1;
  }
  const cas = values.cas === undefined ? undefined : Number(values.cas);
  if (cas !== undefined && (!Number.isInteger(cas) || cas < 0)) {
    console.error(`--cas must be a ModifyIndex (non-negative integer), got "${values.cas}"`);
    return 1;
  }
  try {
    const { pushPolicy } = await import('../policy/consul-push.js');
    const result = await pushPolicy({
      addr: consulBaseUrl(addr),
      token: process.env.CONSUL_HTTP_TOKEN || undefined,
      prefix: process.env.ROUTECAR_CONSUL_PREFIX || DEFAULT_CONSUL_PREFIX,
      text,
      cas,
    });
    console.log(
      `pushed ${file} to ${result.key} (version ${parsed.policy.version}; ModifyIndex ${result.previousModifyIndex} -> ${result.modifyIndex ?? '?'})`,
    );
    return 0;
  } catch (err) {
    console.error(`push refused: ${(err as Error).message}`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0 || process.argv[2] !== 'start') process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`routecar: ${(err as Error).message}`);
    process.exit(1);
  },
);
