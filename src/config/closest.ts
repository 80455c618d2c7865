/** The nearest of some names to a misspelt one, for "did you mean" hints. */

/** Edit distance of two short words, ignoring case. */
export function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min((row[j] ?? 0) + 1, (next[j - 1] ?? 0) + 1, (row[j - 1] ?? 0) + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1));
    row = next;
  }
  return row[b.length] ?? 0;
}

/** The candidate nearest to `word`, when it is near enough to be a likely misspelling (a third of its length). */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let cost = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const next = editDistance(word, candidate);
    if (next < cost) {
      best = candidate;
      cost = next;
    }
  }
  return best;
}
