/**
 * Go-style durations, parsed exactly as oauth2-proxy (Go's `time.ParseDuration`) parses them:
 * `1h`, `168h0m0s`, `1h30m`, `1.5h`, `300ms`, `0`. Units: ns, us (µs), ms, s, m, h. No days.
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;

/**
 * Parses a Go duration string into milliseconds.
 * @returns milliseconds, or `undefined` when the text is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  let rest = text.trim();
  if (rest === '') return undefined;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest.startsWith('-')) sign = -1;
    rest = rest.slice(1);
  }
  // As Go's time.ParseDuration: a bare 0, signed or not, is zero without a unit.
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let total = 0;
  while (rest !== '') {
    const match = PART.exec(rest);
    if (match === null) return undefined;
    const [whole, number = '', unit = ''] = match;
    total += Number(number) * (UNIT_MS[unit] ?? Number.NaN);
    rest = rest.slice(whole.length);
  }
  // Never -0: a zero is a zero, whatever its sign.
  return Number.isFinite(total) ? (total === 0 ? 0 : sign * total) : undefined;
}

/** Formats milliseconds as a Go duration (`168h0m0s`, `1h0m0s`, `500ms`, `0s`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (Math.abs(ms) < 1000) return `${ms}ms`;
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = rest / 1000;
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}s`;
  return `${sign}${seconds}s`;
}
