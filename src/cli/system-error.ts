/** Operating-system errors (`EACCES`, `EADDRINUSE`, …) in the words a one-line CLI error can use. */

/** The system error code of `error`, or of its `cause` (fetch wraps the socket's error), if it has one. */
export function systemErrorCode(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code } = error as NodeJS.ErrnoException;
  if (typeof code === 'string') return code;
  // Happy eyeballs: a connection tried on several addresses fails with all of their errors.
  if (error instanceof AggregateError) return systemErrorCode((error.errors as unknown[])[0]);
  return error.cause === undefined ? undefined : systemErrorCode(error.cause);
}

/**
 * Why a system call failed, without the path or address Node puts in its messages (the caller names
 * those): `address already in use (EADDRINUSE)`.
 */
export function systemErrorReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = systemErrorCode(error);
  if (code === undefined) return message;
  // Node's own forms: `listen EADDRINUSE: address already in use 127.0.0.1:4180`, `ENOENT: no such file or directory, open '/x'`.
  const words = new RegExp(`(?:^|\\s)${code}: (.*?)(?:, .*| [\\w.:[\\]%-]+:\\d+)?$`).exec(message)?.[1];
  return `${words ?? message} (${code})`;
}
