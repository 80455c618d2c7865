/**
 * Prometheus metrics (prom-client) on their own listener, like oauth2-proxy's `metrics_address`. Label
 * values are bounded: outcomes and reason codes are fixed sets, routes are the configured names, never a
 * host, path or email. With no listener configured every recording is a no-op.
 * @see docs/metrics.md
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What gatehouse records. */
export interface Metrics {
  readonly registry: Registry | undefined;
  check(outcome: string, reason: string, route: string, seconds: number): void;
  idpRequest(operation: 'discovery' | 'token' | 'refresh', ok: boolean, seconds: number): void;
  jwksFetch(profile: string, ok: boolean, keys: number, seconds: number): void;
  /** Where the JWKS cache ages are read from when Prometheus scrapes (the current app's profiles). */
  jwksAges(source: () => readonly { profile: string; seconds: number | undefined }[]): void;
  storeOperation(store: string, operation: string, ok: boolean, seconds: number): void;
  configReload(ok: boolean): void;
  /** Where to read the shared bearer deny-list's size and age from (undefined before its first read). */
  denyListState(source: () => { readonly entries: ReadonlyMap<string, number>; readonly ageSeconds: number } | undefined): void;
}

/** Recording that does nothing (no metrics listener). */
export const NO_METRICS: Metrics = Object.freeze({
  registry: undefined,
  check: () => undefined,
  idpRequest: () => undefined,
  jwksFetch: () => undefined,
  jwksAges: () => undefined,
  storeOperation: () => undefined,
  configReload: () => undefined,
  denyListState: () => undefined,
});

/** Reason labels are codes; anything else (should a bug produce it) is folded into one value. */
function boundedReason(reason: string): string {
  return /^[a-z][a-z0-9-]{0,40}$/.test(reason) ? reason : 'other';
}

/** Creates the registry and the metrics. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const checks = new Counter({ name: 'gatehouse_checks_total', help: 'Forward-auth checks and /oauth2/ answers, by outcome (allow, deny, redirect, error), reason code and route.', labelNames: ['outcome', 'reason', 'route'], registers: [registry] });
  const checkSeconds = new Histogram({
    name: 'gatehouse_check_duration_seconds',
    help: 'Time to answer a check, by outcome.',
    labelNames: ['outcome'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const idpSeconds = new Histogram({ name: 'gatehouse_idp_request_duration_seconds', help: 'Requests to the identity provider, by operation (discovery, token, refresh) and result.', labelNames: ['operation', 'result'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] });
  const jwksSeconds = new Histogram({ name: 'gatehouse_jwks_fetch_duration_seconds', help: 'JWKS fetches of bearer profiles, by profile and result.', labelNames: ['profile', 'result'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] });
  const jwksKeys = new Gauge({ name: 'gatehouse_jwks_keys', help: 'Keys in the JWKS cache of a bearer profile.', labelNames: ['profile'], registers: [registry] });
  let ageSource: () => readonly { profile: string; seconds: number | undefined }[] = () => [];
  new Gauge({
    name: 'gatehouse_jwks_age_seconds',
    help: 'Age of the JWKS cache of a bearer profile (time since the last successful fetch).',
    labelNames: ['profile'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { profile, seconds } of ageSource()) if (seconds !== undefined) this.set({ profile }, seconds);
    },
  });
  const storeSeconds = new Histogram({ name: 'gatehouse_session_store_duration_seconds', help: 'Session store operations, by store, operation and result.', labelNames: ['store', 'operation', 'result'], buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry] });
  const storeErrors = new Counter({ name: 'gatehouse_session_store_errors_total', help: 'Session store operations that failed (the check answered 503).', labelNames: ['store', 'operation'], registers: [registry] });
  const reloads = new Counter({ name: 'gatehouse_config_reloads_total', help: 'Configuration reloads, by result (success, failure).', labelNames: ['result'], registers: [registry] });
  // Both series from the start, at 0: increase() over a series that first appears at 1 sees no rise, so an
  // alert on failed reloads would miss the first one.
  for (const result of ['success', 'failure']) reloads.inc({ result }, 0);
  let denyListSource: () => { readonly entries: ReadonlyMap<string, number>; readonly ageSeconds: number } | undefined = () => undefined;
  new Gauge({
    name: 'gatehouse_bearer_denylist_entries',
    help: 'Entries of a profile in this replica’s copy of the bearer deny-list shared through Redis.',
    labelNames: ['profile'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [profile, entries] of denyListSource()?.entries ?? []) this.set({ profile }, entries);
    },
  });
  new Gauge({
    name: 'gatehouse_bearer_denylist_age_seconds',
    help: 'Time since Redis last answered this replica’s reads of the shared bearer deny-list, by profile.',
    labelNames: ['profile'],
    registers: [registry],
    collect() {
      this.reset();
      const state = denyListSource();
      for (const profile of state?.entries.keys() ?? []) this.set({ profile }, state?.ageSeconds ?? 0);
    },
  });
  const lastReload = new Gauge({ name: 'gatehouse_config_last_reload_success_timestamp_seconds', help: 'When the configuration was last loaded successfully (start or reload).', registers: [registry] });
  lastReload.setToCurrentTime();
  return {
    registry,
    check(outcome, reason, route, seconds) {
      checks.inc({ outcome, reason: boundedReason(reason), route });
      checkSeconds.observe({ outcome }, seconds);
    },
    idpRequest(operation, ok, seconds) {
      idpSeconds.observe({ operation, result: ok ? 'success' : 'failure' }, seconds);
    },
    jwksFetch(profile, ok, keys, seconds) {
      jwksSeconds.observe({ profile, result: ok ? 'success' : 'failure' }, seconds);
      jwksKeys.set({ profile }, keys);
    },
    jwksAges(source) {
      ageSource = source;
    },
    storeOperation(store, operation, ok, seconds) {
      storeSeconds.observe({ store, operation, result: ok ? 'success' : 'failure' }, seconds);
      if (!ok) storeErrors.inc({ store, operation });
    },
    configReload(ok) {
      reloads.inc({ result: ok ? 'success' : 'failure' });
      if (ok) lastReload.setToCurrentTime();
    },
    denyListState(source) {
      denyListSource = source;
    },
  };
}
