/** A configuration problem: where, what is wrong, and how to fix it. */
export interface Problem {
  /** Stable code, `ERR_CONFIG_<CONDITION>`. */
  readonly code: string;
  /** Dotted key path in the native model (`cookie.secrets`), or the raw name for unknown inputs. */
  readonly path: string;
  readonly message: string;
  readonly fix: string;
  /** Where the offending value came from, when known (`env OAUTH2_PROXY_COOKIE_SECRET`). */
  readonly source?: string;
}

/** Where a value came from. */
export type SourceKind = 'default' | 'file' | 'env' | 'flag';

/** Provenance of one effective value. */
export interface Origin {
  readonly kind: SourceKind;
  /** The file path, variable name or flag that set it. */
  readonly name?: string;
  /** The oauth2-proxy option it was set through, where its meaning depends on that. */
  readonly option?: string;
}

/** Renders an origin for people: `env OAUTH2_PROXY_COOKIE_SECRET`. */
export function describeOrigin(origin: Origin): string {
  return origin.name === undefined ? origin.kind : `${origin.kind} ${origin.name}`;
}

/** Renders problems as the lines `config check` and `serve` print. */
export function formatProblems(problems: readonly Problem[]): string {
  const head = `gatehouse: the configuration has ${problems.length} problem${problems.length === 1 ? '' : 's'}:`;
  const lines = problems.map((problem) => {
    const where = problem.source === undefined ? problem.path : `${problem.path} (from ${problem.source})`;
    return `  - ${where}: ${problem.message} [${problem.code}]\n    fix: ${problem.fix}`;
  });
  return [head, ...lines].join('\n');
}
