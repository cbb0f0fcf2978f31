/**
 * The `routecar` command line, run as the built binary: `policy validate`, `policy explain`, and
 * `start` refusing an invalid policy.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/processes.js';
import { runCli, writePolicy } from '../support/routecar.js';

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
