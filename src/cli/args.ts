/**
 * Command-line parsing for every routecar command: node:util `parseArgs` (nothing to load), plus
 * what it leaves to the caller: `--help`, a usage text generated from the same option table the
 * parser reads, and errors that say what was wrong and suggest the near miss (`--polcy` → `--policy`).
 */
import { parseArgs } from 'node:util';
import { closest } from '../policy/errors.js';

/** One `--name` option of a command. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  /** May be given several times; the values arrive as an array, in order. */
  readonly multiple?: boolean;
  /** One-letter alias (`H` for `-H`). */
  readonly short?: string;
  /** Placeholder for the value in the help (`FILE` in `--policy FILE`). */
  readonly value?: string;
  /** One line for the help. */
  readonly description: string;
}

/** A command (`start`) or subcommand (`policy validate`) and everything its help shows. */
export interface CommandSpec<
  O extends Readonly<Record<string, OptionSpec>> = Readonly<Record<string, OptionSpec>>,
> {
  /** As typed after `routecar`: `start`, `policy validate`. */
  readonly name: string;
  /** One line, for the list of commands. */
  readonly summary: string;
  /** The usage line after `routecar ` (`policy explain FILE --request REQ.json [--header NAME:VALUE]...`). */
  readonly usage: string;
  /** Names of the positional arguments, in order; all required (`FILE`). */
  readonly args: readonly string[];
  /** Names of optional positional arguments after the required ones (`ROUTE`). */
  readonly optionalArgs?: readonly string[];
  readonly options: O;
  /** Paragraphs printed after the options (what else is read, examples). */
  readonly details?: string;
}

/** The value type `parseCommand` gives an option. */
type OptionValue<S extends OptionSpec> = S['type'] extends 'boolean'
  ? boolean
  : S['multiple'] extends true
    ? string[]
    : string;

/** Parsed options by name; absent ones are undefined. */
export type OptionValues<O extends Readonly<Record<string, OptionSpec>>> = {
  readonly [K in keyof O]?: OptionValue<O[K]>;
};

export type ParsedCommand<O extends Readonly<Record<string, OptionSpec>>> =
  | { readonly help: true }
  | { readonly help: false; readonly values: OptionValues<O>; readonly args: readonly string[] };

/** The command line was wrong: what is wrong, for which command (`routecar policy validate: ...`). */
export class UsageError extends Error {
  readonly code = 'ROUTECAR_USAGE';

  constructor(
    /** The command as typed after `routecar`, or '' for routecar itself. */
    readonly command: string,
    message: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

const HELP: OptionSpec = { type: 'boolean', short: 'h', description: 'show this help' };

/**
 * Parses `argv` (what follows the command name) against `spec`. `--help`/`-h` anywhere wins over
 * every other problem; otherwise throws UsageError for an unknown option, a missing or unexpected
 * value, or the wrong number of arguments.
 */
export function parseCommand<O extends Readonly<Record<string, OptionSpec>>>(
  spec: CommandSpec<O>,
  argv: readonly string[],
): ParsedCommand<O> {
  const options = { ...spec.options, help: HELP };
  // strict: false, so that every problem is reported here in the same words, with a suggestion.
  const { values, positionals, tokens } = parseArgs({
    args: [...argv],
    options: Object.fromEntries(
      Object.entries(options).map(([name, o]) => [
        name,
        { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) },
      ]),
    ),
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  if (values.help === true) return { help: true };
  const fail = (message: string): never => {
    throw new UsageError(spec.name, message);
  };
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const option = Object.hasOwn(spec.options, token.name) ? spec.options[token.name] : undefined;
    if (option === undefined) {
      const near = closest(token.name, Object.keys(options));
      fail(`unknown option ${token.rawName}${near === undefined ? '' : ` (did you mean --${near}?)`}`);
    } else if (option.type === 'boolean' && token.value !== undefined) {
      fail(`option --${token.name} takes no value`);
    } else if (
      option.type === 'string' &&
      (token.value === undefined || (!token.inlineValue && token.value.startsWith('-')))
    ) {
      // `--request --header x`: the next option is no value (parseArgs would take it as one).
      fail(`option --${token.name} needs a value (${option.value ?? 'VALUE'})`);
    }
  }
  const most = spec.args.length + (spec.optionalArgs?.length ?? 0);
  if (positionals.length > most) fail(`unexpected argument "${positionals[most]}"`);
  if (positionals.length < spec.args.length) fail(`missing ${spec.args[positionals.length]}`);
  return { help: false, values: values as OptionValues<O>, args: positionals };
}

/** The help text of a command: usage, summary, options, details. */
export function commandHelp(spec: CommandSpec): string {
  const rows = Object.entries({ ...spec.options, help: HELP }).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`;
    return [flag, `${o.description}${o.multiple ? ' (repeatable)' : ''}`] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  const lines = [
    `usage: routecar ${spec.usage}`,
    '',
    spec.summary,
    '',
    'Options:',
    ...rows.map(([flag, description]) => `  ${flag.padEnd(width)}${description}`),
  ];
  if (spec.details) lines.push('', spec.details);
  return lines.join('\n');
}
