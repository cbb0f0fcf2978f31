/**
 * The `routecar` command line after the Node version check (main.ts): finds the command, prints
 * help and the version, turns usage errors into one line that says what was wrong (and the near
 * miss), and loads a command's code only when it runs.
 */
import { join } from 'node:path';
import { closest } from '../policy/errors.js';
import { commandHelp, parseCommand, UsageError, type CommandSpec } from './args.js';
import {
  CANARY_COMMANDS,
  CANARY_RUN,
  CANARY_STATUS,
  COMMANDS,
  POLICY_COMMANDS,
  POLICY_EXPLAIN,
  POLICY_PUSH,
  POLICY_REPLAY,
  POLICY_VALIDATE,
  START,
} from './commands.js';
import { resolveConfig } from './config.js';
import { routecarPackageDir, routecarVersion } from '../telemetry/package-info.js';

/** The example policy shipped with routecar, served by `start --demo` when no source is given. */
export const BUNDLED_POLICY = join(routecarPackageDir(), 'policies', 'default.yaml');

const TOP_USAGE = `usage: routecar <command> [options]

${COMMANDS.map((c) => `  ${c.name.padEnd(17)}${c.summary}`).join('\n')}

  routecar <command> --help    the options of a command
  routecar --version           the version`;

const POLICY_USAGE = `usage: routecar policy <command> FILE [options]

${Object.values(POLICY_COMMANDS)
  .map((c) => `  ${c.name.padEnd(17)}${c.summary}`)
  .join('\n')}`;

/** Runs the command line `argv` (without node and the script); resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      const command = err.command === '' ? 'routecar' : `routecar ${err.command}`;
      console.error(`${command}: ${err.message}\nRun "${command} --help" for usage.`);
    } else {
      console.error(`routecar: ${err instanceof Error ? err.message : String(err)}`);
    }
    return 1;
  }
}

async function dispatch(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  switch (first) {
    case undefined:
      console.error(TOP_USAGE);
      return 1;
    case '--help':
    case '-h':
      console.log(TOP_USAGE);
      return 0;
    case 'help':
      return help(rest);
    case '--version':
    case '-v':
      console.log(routecarVersion());
      return 0;
    case 'start':
      return start(rest);
    case 'policy':
      return policy(rest);
    case 'canary':
      return canary(rest);
    default: {
      if (first.startsWith('-')) {
        const near = closest(first.replace(/^-+/, ''), ['help', 'version']);
        throw new UsageError(
          '',
          `unknown option ${first}${near === undefined ? '' : ` (did you mean --${near}?)`}`,
        );
      }
      throw new UsageError(
        '',
        `unknown command "${first}"${suggest(first, ['start', 'policy', 'canary', 'help'])}`,
      );
    }
  }
}

/** `routecar help [COMMAND...]`. */
function help(words: readonly string[]): number {
  if (words.length === 0) {
    console.log(TOP_USAGE);
    return 0;
  }
  const name = words.join(' ');
  if (name === 'policy') {
    console.log(POLICY_USAGE);
    return 0;
  }
  if (name === 'canary') {
    console.log(CANARY_USAGE);
    return 0;
  }
  const spec = COMMANDS.find((c) => c.name === name);
  if (spec === undefined) {
    throw new UsageError(
      'help',
      `unknown command "${name}"${suggest(name, [...COMMANDS.map((c) => c.name), 'policy', 'canary'])}`,
    );
  }
  console.log(commandHelp(spec));
  return 0;
}

async function start(argv: readonly string[]): Promise<number> {
  const parsed = parseCommand(START, argv);
  if (parsed.help) return printHelp(START);
  const { values } = parsed;
  let config = resolveConfig(
    {
      policy: values.policy,
      listen: values.listen,
      adminListen: values['admin-listen'],
      demo: values.demo === true || values['demo-if-unreachable'] === true,
    },
    process.env,
  );
  if (config.policyFile === undefined && config.consul === undefined) {
    // Never a silent fallback to made-up answers: an image started without its configuration
    // must stop, not serve the demo to the app.
    if (values.demo !== true) throw new UsageError('start', NO_POLICY_SOURCE);
    config = { ...config, policyFile: BUNDLED_POLICY };
  }
  // Only `start` needs the server stack (express, proxy, breakers, telemetry).
  const { startCommand } = await import('./start.js');
  return startCommand(config);
}

const NO_POLICY_SOURCE = `no policy source. Give routecar its policy in one of three ways:
  --policy FILE                a policy file (watched for changes)
  ROUTECAR_POLICY_FILE=FILE    the same, from the environment
  CONSUL_HTTP_ADDR=HOST:PORT   Consul KV: <ROUTECAR_CONSUL_PREFIX>policy (default routecar/policy)
To try routecar with the bundled example policy and demo backends: routecar start --demo`;

async function policy(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  // Each command's line is parsed before its code loads, so a usage error costs nothing.
  switch (sub) {
    case undefined:
      console.error(POLICY_USAGE);
      return 1;
    case '--help':
    case '-h':
      console.log(POLICY_USAGE);
      return 0;
    case 'validate': {
      const parsed = parseCommand(POLICY_VALIDATE, rest);
      if (parsed.help) return printHelp(POLICY_VALIDATE);
      return (await import('./policy.js')).validate(parsed.args[0]!);
    }
    case 'explain': {
      const parsed = parseCommand(POLICY_EXPLAIN, rest);
      if (parsed.help) return printHelp(POLICY_EXPLAIN);
      const { request, header } = parsed.values;
      if (request === undefined) throw new UsageError(POLICY_EXPLAIN.name, '--request REQ.json is required');
      return (await import('./policy.js')).explain(parsed.args[0]!, request, header ?? []);
    }
    case 'push': {
      const parsed = parseCommand(POLICY_PUSH, rest);
      if (parsed.help) return printHelp(POLICY_PUSH);
      return (await import('./policy.js')).push(parsed.args[0]!, parsed.values.cas);
    }
    case 'replay': {
      const parsed = parseCommand(POLICY_REPLAY, rest);
      if (parsed.help) return printHelp(POLICY_REPLAY);
      const { log, json } = parsed.values;
      if (log === undefined) throw new UsageError(POLICY_REPLAY.name, '--log LOG.jsonl is required');
      return (await import('./replay.js')).replay(parsed.args[0]!, log, json === true);
    }
    default: {
      const names = Object.keys(POLICY_COMMANDS);
      if (sub.startsWith('-')) {
        throw new UsageError('policy', `expected one of ${names.join(', ')} before ${sub}`);
      }
      const near = closest(sub, names);
      throw new UsageError(
        '',
        `unknown command "policy ${sub}"${near === undefined ? `; expected one of ${names.map((n) => `policy ${n}`).join(', ')}` : ` (did you mean "policy ${near}"?)`}`,
      );
    }
  }
}

const CANARY_USAGE = `usage: routecar canary <command> [options]

${Object.values(CANARY_COMMANDS)
  .map((c) => `  ${c.name.padEnd(17)}${c.summary}`)
  .join('\n')}`;

async function canary(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case undefined:
      console.error(CANARY_USAGE);
      return 1;
    case '--help':
    case '-h':
      console.log(CANARY_USAGE);
      return 0;
    case 'run': {
      const parsed = parseCommand(CANARY_RUN, rest);
      if (parsed.help) return printHelp(CANARY_RUN);
      const v = parsed.values;
      return (await import('./canary.js')).run({
        sessionTtl: v['session-ttl'],
        tickMs: v['tick-ms'],
        minRangeS: v['min-range-s'],
        id: v.id,
      });
    }
    case 'status': {
      const parsed = parseCommand(CANARY_STATUS, rest);
      if (parsed.help) return printHelp(CANARY_STATUS);
      return (await import('./canary.js')).status(parsed.args[0], parsed.values.json === true);
    }
    default: {
      const names = Object.keys(CANARY_COMMANDS);
      const near = closest(sub, names);
      throw new UsageError(
        '',
        `unknown command "canary ${sub}"${near === undefined ? `; expected one of ${names.map((n) => `canary ${n}`).join(', ')}` : ` (did you mean "canary ${near}"?)`}`,
      );
    }
  }
}

function printHelp(spec: CommandSpec): number {
  console.log(commandHelp(spec));
  return 0;
}

function suggest(word: string, candidates: readonly string[]): string {
  const near = closest(word, candidates);
  return near === undefined ? '' : ` (did you mean "${near}"?)`;
}
