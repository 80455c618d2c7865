// A node:test reporter that prints, once the run is over, every test that did not pass: its file, line,
// name and reason (a failure, a timeout, or a test cut off because its file's event loop ran dry). A long
// log then ends with what went wrong, wherever in the log it happened.
export default async function* failures(source) {
  const lines = [];
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const { name, file, line, details } = event.data;
    const error = details?.error;
    // A suite fails when one of its tests does; the test itself is listed.
    if (error?.failureType === 'subtestsFailed') continue;
    const reason = String(error?.cause?.message ?? error?.message ?? '').split('\n')[0].slice(0, 300);
    lines.push(`#   ${file ?? '?'}:${line ?? '?'} ${name} [${error?.failureType ?? 'failure'}] ${reason}\n`);
  }
  if (lines.length > 0) yield `# did not pass (${lines.length}):\n${lines.join('')}`;
}
