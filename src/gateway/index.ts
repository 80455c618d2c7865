/** The gateway: authenticate → authorize → respond, and the browser-facing login endpoints. Framework-free. */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Identity } from '../identity/index.js';
import { createCheck, type CheckMode } from './check.js';
import { createContext, type GatewayDeps } from './context.js';
import { renderDemo } from './demo.js';
import { createLoginEndpoints } from './login.js';
import { createRefresher } from './refresh.js';
import type { GatewayRequest, Verdict } from './types.js';

export type { GatewayDeps } from './context.js';
export type { GatewayRequest, RequestView, Verdict, Outcome } from './types.js';
export type { CheckMode } from './check.js';
export { identityHeaders, headerSafe } from './headers.js';
export { text } from './answers.js';

/** A built gateway. */
export interface Gateway {
  /** A verdict at once when nothing needs waiting for, else a promise; never throws. */
  check(request: GatewayRequest, mode: CheckMode): Verdict | Promise<Verdict>;
  start(request: GatewayRequest): Promise<Verdict>;
  callback(request: GatewayRequest): Promise<Verdict>;
  signIn(request: GatewayRequest): Promise<Verdict>;
  signOut(request: GatewayRequest): Promise<Verdict>;
  userinfo(request: GatewayRequest): Promise<Verdict>;
  refresh(request: GatewayRequest): Promise<Verdict>;
}

/** Builds the gateway of one configuration. */
export function createGateway(deps: GatewayDeps): Gateway {
  const context = createContext(deps);
  const refresher = createRefresher(context);
  const status = deps.config.forwardAuth.status;
  const renderAllow = deps.devMode
    ? renderDemo
    : (_request: GatewayRequest, _identity: Identity, headers: OutgoingHttpHeaders): Verdict => ({ status, headers, body: '', outcome: 'allow', reason: 'session-valid' });
  const check = createCheck(context, refresher, renderAllow);
  const login = createLoginEndpoints(context, refresher);
  return { check, ...login };
}
