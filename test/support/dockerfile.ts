/**
 * A small Dockerfile reader for tests that check the image against the code: instructions with
 * line continuations and comments handled, split into stages, `ARG` defaults substituted into
 * `FROM`, and exec-form (JSON array) arguments decoded. Not a full BuildKit parser: heredocs and
 * parser directives other than `# syntax` are not supported (the project's Dockerfile uses neither).
 */

export interface Instruction {
  /** Upper-cased: `FROM`, `RUN`, `COPY`, ... */
  readonly keyword: string;
  /** The arguments as written (continuations joined with a space). */
  readonly args: string;
  /** Exec form (`["a", "b"]`), decoded; undefined for shell form. */
  readonly exec: readonly string[] | undefined;
  /** 1-based line of the instruction's first line. */
  readonly line: number;
}

export interface Stage {
  /** The image after ARG substitution, e.g. `node:24.21.0-bookworm-slim`. */
  readonly from: string;
  /** `AS name`, when given. */
  readonly name: string | undefined;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  readonly globalArgs: Readonly<Record<string, string>>;
  readonly stages: readonly Stage[];
  /** The last stage: what `docker build` produces. */
  readonly final: Stage;
}

/** Every logical instruction, in order. */
export function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  let buffer = '';
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const trimmed = raw.trim();
    if (buffer === '' && (trimmed === '' || trimmed.startsWith('#'))) continue;
    // Comment lines inside a continued instruction are dropped, as Docker does.
    if (buffer !== '' && trimmed.startsWith('#')) continue;
    if (buffer === '') start = i + 1;
    if (trimmed.endsWith('\\')) {
      buffer += `${trimmed.slice(0, -1).trim()} `;
      continue;
    }
    buffer += trimmed;
    const m = /^(\S+)\s*(.*)$/s.exec(buffer.trim());
    if (m) {
      const args = m[2]!.trim();
      out.push({ keyword: m[1]!.toUpperCase(), args, exec: execForm(args), line: start });
    }
    buffer = '';
  }
  return out;
}

export function parseDockerfile(text: string): Dockerfile {
  const globalArgs: Record<string, string> = {};
  const stages: { from: string; name: string | undefined; instructions: Instruction[] }[] = [];
  for (const ins of instructions(text)) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`line ${ins.line}: cannot read FROM ${ins.args}`);
      stages.push({ from: substitute(m[1]!, globalArgs), name: m[2], instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) {
      if (ins.keyword !== 'ARG') throw new Error(`line ${ins.line}: ${ins.keyword} before FROM`);
      const [name, value = ''] = ins.args.split(/=(.*)/s);
      globalArgs[name!.trim()] = value.trim();
      continue;
    }
    stage.instructions.push(ins);
  }
  const final = stages.at(-1);
  if (!final) throw new Error('no FROM');
  return { globalArgs, stages, final };
}

/**
 * `ENV` pairs of a stage: `ENV A=1 B="two words"` and the legacy `ENV A 1` form.
 */
export function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of stage.instructions.filter((i) => i.keyword === 'ENV')) {
    if (!ins.args.includes('=')) {
      const [name, ...rest] = ins.args.split(/\s+/);
      env[name!] = rest.join(' ');
      continue;
    }
    for (const m of ins.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
      env[m[1]!] = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
    }
  }
  return env;
}

/** The instructions of `stage` with `keyword`. */
export function all(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

/** The last instruction of `stage` with `keyword` (the one that takes effect for CMD, USER, ...). */
export function last(stage: Stage, keyword: string): Instruction | undefined {
  return all(stage, keyword).at(-1);
}

function execForm(args: string): string[] | undefined {
  // HEALTHCHECK and friends put options before the command; the JSON array is what follows.
  const json = /(?:^|\s)(\[.*\])$/s.exec(args)?.[1];
  if (!json) return undefined;
  try {
    const value = JSON.parse(json) as unknown;
    return Array.isArray(value) && value.every((v) => typeof v === 'string')
      ? (value as string[])
      : undefined;
  } catch {
    return undefined;
  }
}

function substitute(value: string, args: Readonly<Record<string, string>>): string {
  return value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (_m, a: string | undefined, b: string | undefined) => {
      const name = (a ?? b)!;
      const v = args[name];
      if (v === undefined) throw new Error(`ARG ${name} has no default`);
      return v;
    },
  );
}
