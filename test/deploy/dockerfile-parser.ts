/**
 * A small Dockerfile reader for the deployment tests: instructions with their line, flags and arguments,
 * grouped into build stages. It follows the Dockerfile reference where these tests need it: `\` joins a
 * line with the next one, comment and blank lines inside a continuation are dropped, keywords are
 * case-insensitive, leading `--flag=value` options are split off, exec (JSON) form is parsed, and `ENV`
 * takes `key=value` pairs (quoted or not) or the legacy `ENV key value`.
 */

/** One instruction. */
export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, ... */
  readonly keyword: string;
  /** 1-based line of the keyword. */
  readonly line: number;
  /** `--name=value` options before the arguments (`--from=build`, `--interval=30s`); a bare `--name` is `''`. */
  readonly flags: Readonly<Record<string, string>>;
  /** The arguments after the flags, continuation lines joined. */
  readonly args: string;
  /** The arguments in exec form (`["node", "x.js"]`), or undefined in shell form. */
  readonly exec: readonly string[] | undefined;
}

/** A build stage: a FROM and what follows until the next FROM. */
export interface Stage {
  readonly index: number;
  readonly name: string | undefined;
  readonly image: string;
  readonly from: Instruction;
  readonly instructions: readonly Instruction[];
}

/** A parsed Dockerfile. */
export interface Dockerfile {
  /** Instructions before the first FROM (ARG only, in a valid file). */
  readonly preamble: readonly Instruction[];
  readonly stages: readonly Stage[];
}

function parseExec(text: string): readonly string[] | undefined {
  if (!text.startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    // Not a JSON array of strings: Docker runs the text in shell form.
    return Array.isArray(value) && value.every((item) => typeof item === 'string') ? value : undefined;
  } catch {
    return undefined;
  }
}

function splitFlags(text: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = text;
  for (;;) {
    const match = /^--([A-Za-z][A-Za-z0-9-]*)(?:=(\S*))?(?:\s+|$)/.exec(rest);
    if (match === null) break;
    flags[match[1] ?? ''] = match[2] ?? '';
    rest = rest.slice(match[0].length);
  }
  return { flags, rest };
}

/** Parses a Dockerfile's text. */
export function parseDockerfile(text: string): Dockerfile {
  const lines = text.split(/\r?\n/);
  const instructions: Instruction[] = [];
  let index = 0;
  while (index < lines.length) {
    const raw = lines[index] ?? '';
    const start = index + 1;
    index += 1;
    const trimmed = raw.trim();
    // Parser directives (`# syntax=`) are comments to everything but BuildKit's front end.
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    let logical = raw.trimStart();
    while (/\\\s*$/.test(logical)) {
      logical = logical.replace(/\\\s*$/, '');
      // A comment or blank line inside a continuation is removed, and the continuation goes on.
      while (index < lines.length && /^\s*(#.*)?$/.test(lines[index] ?? '')) index += 1;
      if (index >= lines.length) break;
      logical += lines[index] ?? '';
      index += 1;
    }
    const match = /^(\S+)\s*([\s\S]*)$/.exec(logical.trim());
    if (match === null) continue;
    const keyword = (match[1] ?? '').toUpperCase();
    const { flags, rest } = ['FROM', 'RUN', 'COPY', 'ADD', 'HEALTHCHECK'].includes(keyword) ? splitFlags(match[2] ?? '') : { flags: {}, rest: match[2] ?? '' };
    const args = rest.trim();
    instructions.push({ keyword, line: start, flags, args, exec: parseExec(args) });
  }
  const preamble: Instruction[] = [];
  const stages: { index: number; name: string | undefined; image: string; from: Instruction; instructions: Instruction[] }[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const [image = '', as, name] = instruction.args.split(/\s+/);
      stages.push({ index: stages.length, name: as?.toUpperCase() === 'AS' ? name : undefined, image, from: instruction, instructions: [] });
    } else {
      const current = stages[stages.length - 1];
      if (current === undefined) preamble.push(instruction);
      else current.instructions.push(instruction);
    }
  }
  return { preamble, stages };
}

/** The instructions of a stage with this keyword. */
export function instructionsOf(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((instruction) => instruction.keyword === keyword.toUpperCase());
}

/** Splits shell-style words: whitespace-separated, with '…' and "…" quoting and \ escapes. */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i] ?? '';
    if (quote === undefined && /\s/.test(char)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (quote === undefined && (char === '"' || char === "'")) {
      quote = char;
      word ??= '';
    } else if (quote !== undefined && char === quote) {
      quote = undefined;
    } else if (char === '\\' && quote !== "'" && i + 1 < text.length) {
      i += 1;
      word = (word ?? '') + (text[i] ?? '');
    } else {
      word = (word ?? '') + char;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The variables an `ENV` instruction sets. */
export function envOf(instruction: Instruction): Record<string, string> {
  const words = shellWords(instruction.args);
  const first = words[0] ?? '';
  // Legacy form: `ENV KEY value with spaces`.
  if (!first.includes('=')) return { [first]: words.slice(1).join(' ') };
  const env: Record<string, string> = {};
  for (const word of words) {
    const at = word.indexOf('=');
    if (at <= 0) throw new SyntaxError(`line ${instruction.line}: '${word}' is not KEY=value`);
    env[word.slice(0, at)] = word.slice(at + 1);
  }
  return env;
}

/** `COPY`/`ADD` sources and destination (exec or shell form). */
export function copyOf(instruction: Instruction): { sources: string[]; destination: string; from: string | undefined } {
  const words = instruction.exec === undefined ? shellWords(instruction.args) : [...instruction.exec];
  const destination = words.pop() ?? '';
  return { sources: words, destination, from: instruction.flags.from };
}

/** The `&&`/`;`-separated commands of a shell-form `RUN`, each split into words. */
export function runCommands(instruction: Instruction): string[][] {
  const text = instruction.exec === undefined ? instruction.args : instruction.exec.join(' ');
  return text
    .split(/&&|\|\||;/)
    .map((part) => shellWords(part.trim()))
    .filter((words) => words.length > 0);
}

/** A `HEALTHCHECK`: its options and command (exec form, or the shell text), or `none` for `HEALTHCHECK NONE`. */
export function healthcheckOf(instruction: Instruction): { none: boolean; flags: Readonly<Record<string, string>>; exec: readonly string[] | undefined; shell: string | undefined } {
  if (/^NONE$/i.test(instruction.args)) return { none: true, flags: instruction.flags, exec: undefined, shell: undefined };
  const match = /^CMD\s+([\s\S]*)$/i.exec(instruction.args);
  if (match === null) throw new SyntaxError(`line ${instruction.line}: HEALTHCHECK needs CMD or NONE`);
  const command = (match[1] ?? '').trim();
  const exec = parseExec(command);
  return { none: false, flags: instruction.flags, exec, shell: exec === undefined ? command : undefined };
}
