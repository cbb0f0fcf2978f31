/**
 * The option parser every command uses: values by type, repeatable options, --help winning, and
 * usage errors that name the problem and the near miss; the help generated from the same table.
 */
import { describe, expect, it } from 'vitest';
import { commandHelp, parseCommand, UsageError, type CommandSpec } from '../../../src/cli/args.js';

const SPEC = {
  name: 'policy explain',
  summary: 'Explain.',
  usage: 'policy explain FILE --request REQ.json',
  args: ['FILE'],
  options: {
    request: { type: 'string', value: 'REQ.json', description: 'the request' },
    header: { type: 'string', short: 'H', multiple: true, value: 'NAME:VALUE', description: 'a header' },
    verbose: { type: 'boolean', description: 'more' },
  },
} as const satisfies CommandSpec;

function usageError(argv: string[]): string {
  try {
    parseCommand(SPEC, argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).command).toBe('policy explain');
    return (err as Error).message;
  }
  throw new Error(`no usage error for ${JSON.stringify(argv)}`);
}

describe('parseCommand', () => {
  it('reads strings, repeated options in order, booleans and the arguments', () => {
    const parsed = parseCommand(SPEC, [
      'p.yaml',
      '--request',
      'r.json',
      '-H',
      'a:1',
      '--header=b:2',
      '--verbose',
    ]);
    expect(parsed).toEqual({
      help: false,
      values: { request: 'r.json', header: ['a:1', 'b:2'], verbose: true },
      args: ['p.yaml'],
    });
  });

  it('lets --help and -h win over anything else on the line', () => {
    expect(parseCommand(SPEC, ['--nope', '--help'])).toEqual({ help: true });
    expect(parseCommand(SPEC, ['-h'])).toEqual({ help: true });
  });

  it.each([
    [['p.yaml', '--reqest', 'r'], 'unknown option --reqest (did you mean --request?)'],
    [['p.yaml', '--hedaer', 'x:y'], 'unknown option --hedaer (did you mean --header?)'],
    [['p.yaml', '--zzz'], 'unknown option --zzz'],
    [['p.yaml', '-x'], 'unknown option -x'],
    [['p.yaml', '--request'], 'option --request needs a value (REQ.json)'],
    [['p.yaml', '--request', '--verbose'], 'option --request needs a value (REQ.json)'],
    [['p.yaml', '--verbose=yes'], 'option --verbose takes no value'],
    [[], 'missing FILE'],
    [['a.yaml', 'b.yaml'], 'unexpected argument "b.yaml"'],
  ])('%j → %s', (argv, message) => {
    expect(usageError(argv)).toBe(message);
  });
});

describe('commandHelp', () => {
  it('shows the usage, the summary, and every option with its value and aliases', () => {
    const help = commandHelp(SPEC);
    expect(help.split('\n')[0]).toBe('usage: routecar policy explain FILE --request REQ.json');
    expect(help).toContain('Explain.');
    expect(help).toMatch(/^ {6}--request REQ\.json +the request$/m);
    expect(help).toMatch(/^ {2}-H, --header NAME:VALUE +a header \(repeatable\)$/m);
    expect(help).toMatch(/^ {2}-h, --help +show this help$/m);
  });
});
