/**
 * The one error type of gatehouse. Every failure that crosses a room boundary is a `GatewayError` with a
 * stable code `ERR_<ROOM>_<CONDITION>`; docs/errors.md lists them all. Bad arguments are `TypeError`s.
 */
export class GatewayError extends Error {
  /** Stable, documented code, e.g. `ERR_CONFIG_INVALID`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GatewayError';
    this.code = code;
  }
}

/** True when `value` is a {@link GatewayError}, optionally with the given code. */
export function isGatewayError(value: unknown, code?: string): value is GatewayError {
  return value instanceof GatewayError && (code === undefined || value.code === code);
}
