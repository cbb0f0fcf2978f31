/**
 * Bad input from Consul, end to end: a document that is not a valid policy is refused while the
 * last good policy keeps serving and `/admin/policy` shows why; an invalid split override is
 * refused on its own and its route keeps its last good override; `routecar policy push`
 * validates, writes with check-and-set and refuses a conflict. Runs on the emulator, or on a real Consul when CONSUL_HTTP_ADDR is set.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConsulUnderTest,
  newStateDir,
  removeStateDirs,
  startConsulRoutecar,
  type AdminPolicy,
  type ConsulRoutecar,
} from '../support/consul-routecar.js';
import { useFakeUpstreams, type FakeUpstream } from '../support/fake-upstream.js';
import { useProcesses } from '../support/processes.js';
import { runCli } from '../support/routecar.js';

const procs = useProcesses(afterAll);
const fakeUpstream = useFakeUpstreams(afterAll);

let consul: ConsulUnderTest;
let routecar: ConsulRoutecar;
let a: FakeUpstream;
let b: FakeUpstream;
/** The good policy serving before the bad documents. */
let good: { version: string; modifyIndex: number };

function backend(u: FakeUpstream): object {
  return { url: u.baseURL, model: `${u.name}-model`, price: { input: 0.1, output: 0.1 } };
}

/** A valid policy (YAML); `chat` and `other` both send everything to `a` unless overridden. */
function policyYaml(options: { chatBackends?: string; chatSplit?: string; extra?: string } = {}): string {
  return `version: 1
backends:
  a: ${JSON.stringify(backend(a))}
  b: ${JSON.stringify(backend(b))}
routes:
  chat:
    backends: ${options.chatBackends ?? '[a, b]'}
    split: ${options.chatSplit ?? '{ a: 100, b: 0 }'}
  other:
    backends: [a, b]
    split: { a: 100, b: 0 }
${options.extra ?? ''}`;
}

beforeAll(async () => {
  [a, b] = await Promise.all([fakeUpstream({ name: 'a' }), fakeUpstream({ name: 'b' })]);
  consul = await ConsulUnderTest.start('bad-input');
  const modifyIndex = await consul.write('policy', policyYaml());
  routecar = await startConsulRoutecar({ consul, group: procs });
  const p = await routecar.waitForPolicy((s) => s.origin?.modifyIndex === modifyIndex, 'the first policy');
  good = { version: p.version!, modifyIndex };
});

afterAll(async () => {
  await procs.killAll();
  await consul?.close();
  await removeStateDirs();
});

/** Requests on `route` are served (200) by `arm` under policy `version`. */
async function expectServing(route: string, arm: string, version: string): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const answer = await routecar.chat(route);
    expect(answer.status, answer.body).toBe(200);
    expect(answer.backend).toBe(arm);
    expect(answer.version).toBe(version);
  }
}

const BAD_DOCUMENTS: Array<{ name: string; text: () => string | Buffer; path: string; message: RegExp }> = [
  {
    name: 'invalid YAML',
    text: () => 'version: 1\nbackends:\n  a: { url: "http://x\n  b: [unclosed\n',
    path: '',
    message: /invalid YAML\/JSON: .*\(line \d+, column \d+\)/,
  },
  {
    name: 'an unknown backend in a route',
    text: () => policyYaml({ chatBackends: '[a, nope]' }),
    path: 'routes.chat.backends.1',
    message: /unknown backend "nope"/,
  },
  {
    name: 'split weights summing to 0',
    text: () => policyYaml({ chatSplit: '{ a: 0, b: 0 }' }),
    path: 'routes.chat.split',
    message: /^weights sum to 0$/,
  },
  {
    name: 'a binary value (random bytes)',
    // A NUL and an invalid UTF-8 sequence first, so the value is binary whatever the random bytes are.
    text: () => Buffer.concat([Buffer.from([0x00, 0xff, 0xfe, 0xc3]), randomBytes(2048)]),
    path: '',
    message: /policy (is binary data, not text|is not valid UTF-8 text)/,
  },
];

describe(`bad input in Consul (${process.env.CONSUL_HTTP_ADDR ? 'real Consul' : 'emulator'})`, () => {
  it('serves the good policy to start with', async () => {
    await expectServing('chat', 'a', good.version);
    const p = await routecar.policy();
    expect(p.reloads.refused).toBe(0);
    expect(p.lastError).toBeUndefined();
  });

  for (const bad of BAD_DOCUMENTS) {
    it(`${bad.name} in routecar/policy is refused; the last good policy keeps serving`, async () => {
      const before = await routecar.policy();
      const { ok } = await consul.put('policy', bad.text());
      expect(ok).toBe(true);
      const badIndex = (await consul.mustGet('policy')).modifyIndex;

      const p = await routecar.waitForPolicy(
        (s) => s.reloads.refused === before.reloads.refused + 1,
        'one more refused reload',
      );
      // Still the good document: same version, same origin, traffic unchanged.
      expect(p.version).toBe(good.version);
      expect(p.origin).toEqual({
        source: 'consul',
        location: consul.key('policy'),
        modifyIndex: good.modifyIndex,
      });
      expect(p.reloads.accepted).toBe(before.reloads.accepted);
      await expectServing('chat', 'a', good.version);
      await expectServing('other', 'a', good.version);
      expect(await routecar.readyz()).toBe(200);

      // The error, with its path, and which write it was.
      expect(p.lastError).toMatchObject({
        reason: 'invalid-document',
        origin: { source: 'consul', location: consul.key('policy'), modifyIndex: badIndex },
      });
      expect(p.lastError!.errors.map((e) => e.path)).toContain(bad.path);
      const error = p.lastError!.errors.find((e) => e.path === bad.path)!;
      expect(error.message).toMatch(bad.message);
      expect(p.lastError!.message).toContain(`${bad.path === '' ? '(document)' : bad.path}: `);
    });
  }

  it('the last good policy on disk is still the good one', async () => {
    const saved = JSON.parse(await readFile(join(routecar.stateDir, 'last-good-policy.json'), 'utf8')) as {
      version: string;
      origin: unknown;
    };
    expect(saved.version).toBe(good.version);
    expect(saved.origin).toEqual({
      source: 'consul',
      location: consul.key('policy'),
      modifyIndex: good.modifyIndex,
    });
  });

  it('a deleted routecar/policy changes nothing: the last good policy keeps serving', async () => {
    const before = await routecar.policy();
    await consul.delete('policy');
    const p = await routecar.waitForPolicy(
      (s) => s.lastError?.reason === 'document-missing',
      'the missing document',
    );
    expect(p.lastError!.origin).toMatchObject({ source: 'consul', location: consul.key('policy') });
    expect(p.version).toBe(good.version);
    expect(p.reloads).toEqual(before.reloads);
    await expectServing('chat', 'a', good.version);
    expect(await routecar.readyz()).toBe(200);
  });

  it('a valid document after the bad ones is accepted again', async () => {
    const before = await routecar.policy();
    const modifyIndex = await consul.write('policy', policyYaml({ extra: 'rules: []\n' }));
    const p = await routecar.waitForPolicy(
      (s) => s.origin?.modifyIndex === modifyIndex,
      'the repaired document',
    );
    expect(p.reloads.accepted).toBe(before.reloads.accepted + 1);
    expect(p.reloads.refused).toBe(before.reloads.refused);
    // `rules: []` is the default: same content, same version.
    expect(p.version).toBe(good.version);
    good = { version: p.version!, modifyIndex };
  });

  it('an invalid split override is refused on its own: its route keeps its last good override, other overrides stay', async () => {
    // Valid overrides move both routes to b: a canary running at 100%.
    await consul.put('splits/other', { a: 0, b: 100 });
    await consul.put('splits/chat', { a: 0, b: 100 });
    const running = await routecar.waitForPolicy(
      (s) => s.splitOverrides.other !== undefined && s.splitOverrides.chat !== undefined,
      'the overrides of "chat" and "other"',
    );
    await expectServing('other', 'b', running.version!);
    await expectServing('chat', 'b', running.version!);

    const cases: Array<{ value: string; message: RegExp }> = [
      { value: '{"a": 50, "nope": 50}', message: /backend "nope" is not in route "chat"/ },
      { value: 'not json at all', message: /not valid JSON/ },
      { value: '{"a": 0, "b": 0}', message: /weights sum to 0/ },
    ];
    for (const { value, message } of cases) {
      const before = await routecar.policy();
      await consul.put('splits/chat', value);
      const p = await routecar.waitForPolicy(
        (s) => s.refusedSplits.some((e) => e.path === 'splits/chat' && message.test(e.message)),
        `the refusal of splits/chat = ${value}`,
      );
      expect(p.lastError).toMatchObject({ reason: 'invalid-split', errors: [{ path: 'splits/chat' }] });
      expect(p.lastError!.message).toMatch(message);
      expect(p.splitErrors?.chat).toMatchObject({ path: 'splits/chat', serving: 'last-good-override' });
      expect(p.splitErrors?.chat?.message).toMatch(message);
      // Nothing else changed: the document, the version, both overrides in force, the traffic.
      expect(p.version).toBe(running.version);
      expect(p.origin).toEqual(before.origin);
      expect(p.splitOverrides).toEqual({ chat: { a: 0, b: 100 }, other: { a: 0, b: 100 } });
      await expectServing('chat', 'b', running.version!);
      await expectServing('other', 'b', running.version!);
    }

    // A document that takes b out of "chat": the kept override no longer fits, so it is refused
    // too and "chat" falls back to the policy split; the route says why.
    const narrowed = await consul.write(
      'policy',
      policyYaml({ chatBackends: '[a]', chatSplit: '{ a: 100 }' }),
    );
    const withoutB = await routecar.waitForPolicy(
      (s) => s.origin?.modifyIndex === narrowed,
      'the document without b in "chat"',
    );
    expect(withoutB.splitErrors?.chat?.serving).toBe('policy-split');
    expect(withoutB.splitErrors?.chat?.errors.map((e) => e.message)).toContainEqual(
      'the last good override {"a":0,"b":100} no longer fits the policy: backend "b" is not in route "chat"',
    );
    expect(withoutB.splitOverrides).toEqual({ other: { a: 0, b: 100 } });
    await expectServing('chat', 'a', withoutB.version!);
    await expectServing('other', 'b', withoutB.version!);

    // b is back in the document, but the key still holds the typo and the dropped override is gone.
    const restored = await consul.write('policy', policyYaml({ extra: 'rules: []\n' }));
    const back = await routecar.waitForPolicy(
      (s) => s.origin?.modifyIndex === restored,
      'the document with b',
    );
    expect(back.splitErrors?.chat?.serving).toBe('policy-split');
    await expectServing('chat', 'a', back.version!);
    good = { version: good.version, modifyIndex: restored };

    // Fixed: the override applies, the refusal is gone, and lastError says it is over.
    await consul.put('splits/chat', { a: 0, b: 100 });
    const fixed = await routecar.waitForPolicy(
      (s) => s.splitOverrides.chat !== undefined,
      'the fixed override',
    );
    expect(fixed.refusedSplits).toEqual([]);
    expect(fixed.splitErrors).toEqual({});
    expect(fixed.lastError).toBeUndefined();
    expect(fixed.previousError).toMatchObject({ reason: 'invalid-split', resolvedAt: expect.any(String) });
    await expectServing('chat', 'b', fixed.version!);
    await consul.delete('splits/chat');
    await consul.delete('splits/other');
    const none = await routecar.waitForPolicy(
      (s) => Object.keys(s.splitOverrides).length === 0,
      'no overrides',
    );
    expect(none.version).toBe(good.version);
  });
});

describe('routecar policy push', () => {
  let dir: string;
  const push = (file: string, ...extra: string[]) =>
    runCli(['policy', 'push', file, ...extra], { env: consul.env() });
  const emulatorWrites = (): string[] =>
    (consul.emulator?.requests ?? [])
      .filter((r) => r.method === 'PUT' && r.key === consul.key('policy'))
      .map((r) => r.query.toString());

  beforeAll(async () => {
    dir = await newStateDir();
  });

  it('validates, then writes the file with check-and-set; routecar picks it up', async () => {
    const before = await consul.mustGet('policy');
    const text = policyYaml({
      extra: 'rules:\n  - { name: to-b, match: { route: chat, header: { x-arm: b } }, split: { b: 1 } }\n',
    });
    const file = join(dir, 'pushed.yaml');
    await writeFile(file, text);
    const writesBefore = emulatorWrites().length;

    const result = await push(file);
    expect(result.code, result.output).toBe(0);
    const after = await consul.mustGet('policy');
    expect(after.value!.toString()).toBe(text);
    expect(after.modifyIndex).toBeGreaterThan(before.modifyIndex);
    expect(result.stdout).toContain(`pushed ${file} to ${consul.key('policy')}`);
    expect(result.stdout).toContain(`ModifyIndex ${before.modifyIndex} -> ${after.modifyIndex}`);
    // The write was checked against the ModifyIndex read just before it.
    if (consul.emulator) expect(emulatorWrites().slice(writesBefore)).toEqual([`cas=${before.modifyIndex}`]);

    const p: AdminPolicy = await routecar.waitForPolicy(
      (s) => s.origin?.modifyIndex === after.modifyIndex,
      'the pushed policy',
    );
    expect(p.version).not.toBe(good.version);
    expect((await routecar.chat('chat', { 'x-arm': 'b' })).backend).toBe('b');
    expect((await routecar.chat('chat')).backend).toBe('a');
  });

  it('refuses an invalid file: exit 1, the error with its path, nothing written', async () => {
    const before = await consul.mustGet('policy');
    const file = join(dir, 'invalid.yaml');
    await writeFile(file, policyYaml({ chatBackends: '[a, nope]', chatSplit: '{ a: 0, b: 0 }' }));
    const result = await push(file);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('routes.chat.backends.1: unknown backend "nope"');
    expect(result.stderr).toMatch(/policy refused/);
    expect((await consul.mustGet('policy')).modifyIndex).toBe(before.modifyIndex);
  });

  it('refuses a check-and-set conflict (--cas with a stale ModifyIndex) with a clear message', async () => {
    const before = await consul.mustGet('policy');
    const stale = before.modifyIndex - 1;
    const file = join(dir, 'conflict.yaml');
    await writeFile(
      file,
      policyYaml({ extra: 'rules:\n  - { name: deny-all, match: {}, deny: { message: nope } }\n' }),
    );
    const result = await push(file, '--cas', String(stale));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`push refused: policy changed in Consul since ModifyIndex ${stale}`);
    const after = await consul.mustGet('policy');
    expect(after.modifyIndex).toBe(before.modifyIndex);
    expect(after.value!.equals(before.value!)).toBe(true);
    // And routecar still serves requests (the deny-all document never reached it).
    expect((await routecar.chat('chat')).status).toBe(200);

    // The current index passes.
    const ok = await push(file, '--cas', String(before.modifyIndex));
    expect(ok.code, ok.output).toBe(0);
    const denied = await routecar.waitForPolicy(
      (s) => s.origin?.modifyIndex !== before.modifyIndex,
      'the deny-all policy',
    );
    expect(denied.origin?.modifyIndex).toBe((await consul.mustGet('policy')).modifyIndex);
    expect((await routecar.chat('chat')).status).toBe(403);
  });
});
