// A node:test reporter that prints, once the run is over, every test that did not pass: where, its name and
// the reason (a failure, a timeout, or a test cut off because its file's event loop ran dry). A long log
// then ends with what went wrong, wherever in the log it happened.
export default async function* failures(source) {
  const lines = [];
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const { name, file, details } = event.data;
    const error = details?.error;
    // A suite fails when one of its tests does; the test itself is listed.
    if (error?.failureType === 'subtestsFailed') continue;
    const cause = error?.cause ?? error;
    const reason = String(cause?.message ?? '').split('\n')[0].slice(0, 300);
    lines.push(`#   ${whereIn(file, cause?.stack)} ${name} [${error?.failureType ?? 'failure'}] ${reason}\n`);
  }
  if (lines.length > 0) yield `# did not pass (${lines.length}):\n${lines.join('')}`;
}

/**
 * The first line of `stack` in the test's own file, or the file alone. (The test's reported line is a
 * position in the transpiled source, not in the file.)
 */
function whereIn(file, stack) {
  if (file === undefined) return '?';
  const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`${escaped}:(\\d+)`).exec(String(stack ?? ''));
  return match === null ? file : `${file}:${match[1]}`;
}
