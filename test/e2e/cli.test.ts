/**
 * The `routecar` command line, run as the built binary: help, version and usage errors on every
 * command, `policy validate` (with line and column), `policy explain` (with headers), `start`
 * refusing an invalid policy or the absence of any policy source, and the Node version check.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsulEmulator } from '../support/consul-emulator.js';
import { REPO_ROOT, useProcesses } from '../support/processes.js';
import { ROUTECAR_CLI, runCli, writePolicy } from '../support/routecar.js';

const procs = useProcesses(afterAll);

const GOOD_POLICY = `
version: 1
backends:
  big:
    url: http://127.0.0.1:9/v1
    model: org/big-model
    price: { input: 0.60, output: 0.80 }
  small:
    url: http://127.0.0.1:9/v1
    model: org/small-model
    price: { input: 0.05, output: 0.08 }
routes:
  chat:
    backends: [big, small]
rules:
  - name: short-prompts-go-small
    match: { route: chat, promptTokens: { lt: 200 } }
    prefer: [small]
`;

/** The same policy with a typo in the route's second backend. */
const UNKNOWN_BACKEND_POLICY = GOOD_POLICY.replace('backends: [big, small]', 'backends: [big, smal]');

let dir: string;
let goodFile: string;
let badFile: string;
let requestFile: string;

beforeAll(async () => {
  const written = await writePolicy(GOOD_POLICY, 'routecar-cli-');
  dir = written.dir;
  goodFile = written.file;
  badFile = join(dir, 'unknown-backend.yaml');
  await writeFile(badFile, UNKNOWN_BACKEND_POLICY);
  requestFile = join(dir, 'request.json');
  await writeFile(
    requestFile,
    JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi there' }] }),
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('routecar policy validate', () => {
  it('exits 0 on a valid policy', async () => {
    const run = await runCli(['policy', 'validate', goodFile]);
    expect(run.code, run.output).toBe(0);
    expect(run.stdout).toContain('valid');
    expect(run.stdout).toContain('2 backends, 1 routes, 1 rules');
  });

  it('exits 0 on the bundled default policy', async () => {
    const run = await runCli(['policy', 'validate', join(REPO_ROOT, 'policies/default.yaml')]);
    expect(run.code, run.output).toBe(0);
  });

  it('exits 1 on a route naming an unknown backend, and prints the path of the error', async () => {
    const run = await runCli(['policy', 'validate', badFile]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/routes\.chat\.backends\.1: unknown backend "smal"/);
    // The typo is recognised as one.
    expect(run.stderr).toContain('did you mean "small"');
    expect(run.stdout).not.toContain('valid');
  });

  it('prints the line and column of each error, pointing at the offending value or key', async () => {
    // Line 14 of the file is `    backends: [big, smal]`; `smal` starts in column 21.
    const run = await runCli(['policy', 'validate', badFile]);
    expect(run.stderr).toContain(`${badFile}:14:21: routes.chat.backends.1: unknown backend "smal"`);

    const misspelt = join(dir, 'misspelt-key.yaml');
    await writeFile(
      misspelt,
      GOOD_POLICY.replace('    backends: [big, small]', '    backends: [big, small]\n    stiky: none'),
    );
    const key = await runCli(['policy', 'validate', misspelt]);
    expect(key.code).toBe(1);
    // The unknown key itself, on line 15, column 5.
    expect(key.stderr).toMatch(new RegExp(`${misspelt}:15:5: routes\\.chat.*stiky.*did you mean "sticky"`));
  });

  it('prints the line and column of a YAML syntax error', async () => {
    const broken = join(dir, 'broken.yaml');
    await writeFile(broken, 'version: 1\nbackends:\n  a: [1, 2\nroutes: {}\n');
    const run = await runCli(['policy', 'validate', broken]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`${broken}:\\d+:\\d+: .*invalid YAML`));
  });
});

describe('routecar policy explain', () => {
  it('prints the decision for a request as JSON, with its candidates', async () => {
    const run = await runCli(['policy', 'explain', goodFile, '--request', requestFile]);
    expect(run.code, run.output).toBe(0);
    const explanation = JSON.parse(run.stdout) as {
      policyVersion: string;
      features: { route: string; promptTokens: number };
      result: {
        ok: boolean;
        decision: {
          route: string;
          attempts: string[];
          rule?: string;
          reason: string;
          candidates: { backend: string }[];
        };
      };
    };
    expect(explanation.policyVersion).toMatch(/^[0-9a-f]{12}$/);
    expect(explanation.features.route).toBe('chat');
    expect(explanation.result.ok).toBe(true);
    const decision = explanation.result.decision;
    expect(decision.route).toBe('chat');
    expect(decision.candidates.map((c) => c.backend).sort()).toEqual(['big', 'small']);
    // A short prompt: the rule puts the small model first.
    expect(decision.rule).toBe('short-prompts-go-small');
    expect(decision.attempts[0]).toBe('small');
    expect(decision.attempts.sort()).toEqual(['big', 'small']);
  });

  it('explains a refusal too, and exits non-zero', async () => {
    const unknown = join(dir, 'unknown-model.json');
    await writeFile(unknown, JSON.stringify({ model: 'gpt-17', messages: [] }));
    const run = await runCli(['policy', 'explain', goodFile, '--request', unknown]);
    expect(run.code).not.toBe(0);
    const explanation = JSON.parse(run.stdout) as { result: { ok: boolean; refusal: { code: string } } };
    expect(explanation.result.ok).toBe(false);
    expect(explanation.result.refusal.code).toBe('model_not_found');
  });
});

describe('routecar policy explain with --header', () => {
  const HEADER_POLICY = `
version: 1
backends:
  big: { url: 'http://127.0.0.1:9/v1', model: org/big, price: { input: 0.6, output: 0.8 } }
  small: { url: 'http://127.0.0.1:9/v1', model: org/small, price: { input: 0.05, output: 0.08 } }
routes:
  chat: { backends: [big, small] }
  chat-premium: { backends: [big] }
  chat-canary: { backends: [big, small], split: { big: 50, small: 50 }, sticky: 'header:x-user-id' }
rules:
  - name: premium
    match: { tenant: [acme] }
    route: chat-premium
  - name: batch-goes-small
    match: { priority: [batch] }
    prefer: [small]
  - name: pins-for-ops
    match: { header: { x-team: [ops] } }
    allowPin: true
`;
  let file: string;
  let request: string;
  let canary: string;

  beforeAll(async () => {
    file = join(dir, 'headers.yaml');
    await writeFile(file, HEADER_POLICY);
    request = join(dir, 'chat.json');
    await writeFile(request, JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }));
    canary = join(dir, 'canary.json');
    await writeFile(
      canary,
      JSON.stringify({ model: 'chat-canary', messages: [{ role: 'user', content: 'hi' }] }),
    );
  });

  interface Explained {
    features: { tenant?: string; priority?: string; user?: string; pin?: string };
    result: {
      ok: boolean;
      decision: { route: string; rule?: string; reason: string; attempts: string[]; variant?: string };
    };
  }
  async function explain(requestFile: string, ...headers: string[]): Promise<Explained> {
    const run = await runCli([
      'policy',
      'explain',
      file,
      '--request',
      requestFile,
      ...headers.flatMap((h) => ['--header', h]),
    ]);
    expect(run.code, run.output).toBe(0);
    return JSON.parse(run.stdout) as Explained;
  }

  it('explains a tenant rule', async () => {
    const plain = await explain(request);
    expect(plain.result.decision.route).toBe('chat');
    const acme = await explain(request, 'x-tenant-id: acme');
    expect(acme.features.tenant).toBe('acme');
    expect(acme.result.decision).toMatchObject({ route: 'chat-premium', rule: 'premium', attempts: ['big'] });
  });

  it('explains a priority rule, with the header name in any case', async () => {
    const batch = await explain(request, 'X-Priority:batch');
    expect(batch.features.priority).toBe('batch');
    expect(batch.result.decision.rule).toBe('batch-goes-small');
    expect(batch.result.decision.attempts[0]).toBe('small');
  });

  it('explains a pin: honoured where a rule allows it, ignored elsewhere', async () => {
    const pinned = await explain(request, 'x-team: ops', 'x-routecar-backend: small');
    expect(pinned.result.decision.attempts).toEqual(['small']);
    expect(pinned.result.decision.reason).toContain('pin -> small');
    const ignored = await explain(request, 'x-routecar-backend: small');
    expect(ignored.result.decision.reason).toContain('pin ignored');
  });

  it('explains a sticky split: the same user lands on the same arm every time', async () => {
    const first = await explain(canary, 'x-user-id: user-42');
    expect(first.result.decision.reason).toContain('sticky(header:x-user-id)');
    for (let i = 0; i < 3; i++) {
      const again = await explain(canary, 'x-user-id: user-42');
      expect(again.result.decision.attempts[0]).toBe(first.result.decision.attempts[0]);
    }
  });

  it.each([['no-colon'], [': value'], ['bad name: v']])('refuses the malformed header %j', async (header) => {
    const run = await runCli(['policy', 'explain', file, '--request', request, '--header', header]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/--header: expected NAME:VALUE/);
  });
});

describe('help, version and usage errors', () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };

  it('prints the version from package.json', async () => {
    const run = await runCli(['--version']);
    expect(run.code, run.output).toBe(0);
    expect(run.stdout.trim()).toBe(pkg.version);
  });

  it.each([
    [['--help'], 'routecar <command>'],
    [['-h'], 'routecar <command>'],
    [['help'], 'routecar <command>'],
    [['start', '--help'], 'routecar start'],
    [['help', 'start'], 'routecar start'],
    [['policy', '--help'], 'routecar policy <command>'],
    [['policy', 'validate', '--help'], 'routecar policy validate FILE'],
    [['policy', 'explain', '-h'], 'routecar policy explain FILE --request REQ.json'],
    [['policy', 'push', '--help'], 'routecar policy push FILE'],
    [['help', 'policy', 'explain'], 'routecar policy explain FILE'],
  ])('routecar %j prints its usage and exits 0', async (args, usage) => {
    const run = await runCli(args);
    expect(run.code, run.output).toBe(0);
    expect(run.stdout.startsWith(`usage: ${usage}`), run.stdout).toBe(true);
    expect(run.stderr).toBe('');
  });

  it('lists every command in the top-level help, and every option in a command help', async () => {
    const top = (await runCli(['--help'])).stdout;
    for (const command of ['start', 'policy validate', 'policy explain', 'policy push'])
      expect(top).toContain(command);
    const start = (await runCli(['start', '--help'])).stdout;
    for (const option of ['--policy', '--listen', '--admin-listen', '--demo', '--demo-if-unreachable'])
      expect(start).toContain(option);
    const explain = (await runCli(['policy', 'explain', '--help'])).stdout;
    expect(explain).toContain('--header');
  });

  it.each([
    [['strat'], /unknown command "strat" \(did you mean "start"\?\)/],
    [['polcy', 'validate', 'x'], /unknown command "polcy" \(did you mean "policy"\?\)/],
    [['policy', 'valdate', 'x'], /unknown command "policy valdate" \(did you mean "policy validate"\?\)/],
    [['policy', 'explian'], /did you mean "policy explain"/],
    [['--verison'], /unknown option --verison \(did you mean --version\?\)/],
    [['start', '--polcy', 'x.yaml'], /routecar start: unknown option --polcy \(did you mean --policy\?\)/],
    [['start', '--demo-if-unreachible'], /did you mean --demo-if-unreachable\?/],
    [
      ['policy', 'explain', 'f.yaml', '--reqest', 'r.json'],
      /unknown option --reqest \(did you mean --request\?\)/,
    ],
    [['policy', 'validate', '--strict', 'f.yaml'], /routecar policy validate: unknown option --strict$/m],
    [['policy', 'validate'], /routecar policy validate: missing FILE/],
    [['policy', 'validate', 'a.yaml', 'b.yaml'], /routecar policy validate: unexpected argument "b.yaml"/],
    [['policy', 'explain', 'f.yaml'], /routecar policy explain: --request REQ.json is required/],
    [['policy', 'explain', 'f.yaml', '--request'], /routecar policy explain: option --request needs a value/],
    [['start', '--demo=yes'], /routecar start: option --demo takes no value/],
    [['policy', 'push', 'f.yaml', '--cas', 'x'], /--cas: expected a ModifyIndex/],
  ])('routecar %j says what is wrong and exits 1', async (args, message) => {
    const run = await runCli(args, { env: { CONSUL_HTTP_ADDR: undefined, ROUTECAR_POLICY_FILE: undefined } });
    expect(run.code, run.output).toBe(1);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toMatch(/--help/);
    expect(run.output).not.toContain('routecar ready');
  });

  it('prints the usage and exits 1 without a command', async () => {
    const run = await runCli([]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('routecar <command>');
  });
});

describe('the Node version check', () => {
  /** Runs the bin on this Node, which reports `version` as its own. */
  async function runAs(
    version: string,
    args: string[],
  ): Promise<{ code: number; stderr: string; stdout: string }> {
    const fake = `Object.defineProperty(process.versions, 'node', { value: ${JSON.stringify(version)} });`;
    try {
      const { stdout, stderr } = await promisify(execFile)(
        process.execPath,
        ['--import', `data:text/javascript,${encodeURIComponent(fake)}`, ROUTECAR_CLI, ...args],
        { cwd: REPO_ROOT, timeout: 15_000 },
      );
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it.each([['20.19.0'], ['22.14.0'], ['18.20.4']])(
    'refuses Node %s, naming the required version',
    async (version) => {
      for (const args of [['--version'], ['start', '--demo'], ['policy', 'validate', 'x.yaml']]) {
        const run = await runAs(version, args);
        expect(run.code).toBe(1);
        expect(run.stderr.trim()).toBe(
          `routecar needs Node.js 22.15 or newer; this is Node.js ${version} (${process.execPath}). Install Node.js 24 LTS (see .nvmrc).`,
        );
        expect(run.stdout).toBe('');
      }
    },
  );

  it.each([['22.15.0'], ['23.0.0'], [process.versions.node]])('runs on Node %s', async (version) => {
    const run = await runAs(version, ['--version']);
    expect(run.code, run.stderr).toBe(0);
  });
});

describe('routecar start', () => {
  it('refuses to start with an invalid policy file, and says why', async () => {
    const run = await runCli(
      ['start', '--policy', badFile, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'],
      { env: { ROUTECAR_STATE_DIR: join(dir, 'state') } },
    );
    expect(run.code).not.toBe(0);
    expect(run.code).not.toBeNull();
    expect(run.output).toContain(badFile);
    expect(run.output).toMatch(/routes\.chat\.backends\.1: unknown backend "smal"/);
    expect(run.output).not.toContain('routecar ready');
  });
});

describe('routecar start without a policy source', () => {
  const NO_SOURCE = { ROUTECAR_POLICY_FILE: undefined, CONSUL_HTTP_ADDR: undefined };

  it.each([[[]], [['--demo-if-unreachable']]])(
    'exits 1 with %j, naming the three ways to give one, and starts no demo backends',
    async (flags) => {
      const run = await runCli(
        ['start', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', ...flags],
        {
          env: { ...NO_SOURCE, ROUTECAR_STATE_DIR: join(dir, 'state-none') },
          timeoutMs: 10_000,
        },
      );
      expect(run.code, run.output).toBe(1);
      expect(run.stderr).toContain('no policy source');
      for (const way of ['--policy FILE', 'ROUTECAR_POLICY_FILE', 'CONSUL_HTTP_ADDR'])
        expect(run.stderr).toContain(way);
      expect(run.stderr).toContain('--demo');
      expect(run.output).not.toContain('routecar ready');
      expect(run.output).not.toContain('demo backends started');
      expect(run.output).not.toContain('routecar is serving');
    },
  );

  it('serves the bundled example policy with --demo', async () => {
    const child = procs.spawn(
      ROUTECAR_CLI,
      ['start', '--demo', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'],
      {
        env: { ...NO_SOURCE, ROUTECAR_STATE_DIR: join(dir, 'state-demo') },
        name: 'routecar-demo',
      },
    );
    try {
      const m = await child.waitForLine(/"msg":"routecar ready"/, 15_000);
      const listen = (JSON.parse(m.input ?? '{}') as { listen: string }).listen;
      const models = (await (await fetch(`${listen}/v1/models`)).json()) as { data: { id: string }[] };
      expect(models.data.map((d) => d.id).sort()).toEqual(['chat', 'chat-canary']);
    } finally {
      await child.kill('SIGTERM');
    }
  });
});

describe('routecar policy push: Consul settings as `start` reads them', () => {
  let consul: ConsulEmulator;
  beforeAll(async () => {
    consul = await new ConsulEmulator({
      acl: { tokens: { 'push-token': { write: ['routecar/'] } } },
    }).start();
  });
  afterAll(async () => {
    await consul?.close();
  });

  it('writes with CONSUL_HTTP_ADDR and CONSUL_HTTP_TOKEN', async () => {
    const run = await runCli(['policy', 'push', goodFile], {
      env: { CONSUL_HTTP_ADDR: consul.address, CONSUL_HTTP_TOKEN: 'push-token', CONSUL_HTTP_SSL: undefined },
    });
    expect(run.code, run.output).toBe(0);
    expect(consul.get('routecar/policy')?.value?.toString()).toBe(GOOD_POLICY);
  });

  it('speaks TLS when CONSUL_HTTP_SSL=true, even to host:port (this emulator only speaks plain HTTP)', async () => {
    const before = consul.requests.length;
    const run = await runCli(['policy', 'push', goodFile], {
      env: { CONSUL_HTTP_ADDR: consul.address, CONSUL_HTTP_TOKEN: 'push-token', CONSUL_HTTP_SSL: 'true' },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `push refused: cannot push the policy to routecar/policy: Consul at https://${consul.address}`,
    );
    // A TLS hello is no HTTP request: nothing reached the KV API.
    expect(consul.requests.length).toBe(before);
  });

  it('refuses a CONSUL_HTTP_SSL it cannot read, before connecting', async () => {
    const before = consul.requests.length;
    const run = await runCli(['policy', 'push', goodFile], {
      env: { CONSUL_HTTP_ADDR: consul.address, CONSUL_HTTP_SSL: 'yes' },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('CONSUL_HTTP_SSL: expected true or false, got "yes"');
    expect(consul.requests.length).toBe(before);
  });
});
