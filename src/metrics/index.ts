export { createMetrics, NO_METRICS, type Metrics } from './metrics.js';
export type { CheckSpanResult, CheckTrace, Tracing, TracingSettings } from './tracing.js';
import type { Tracing, TracingSettings } from './tracing.js';

/** Tracing when an endpoint is configured, `undefined` otherwise; the OpenTelemetry SDK is loaded only then. */
export async function loadTracing(settings: TracingSettings): Promise<Tracing | undefined> {
  if (settings.endpoint === '') return undefined;
  const { createTracing } = await import('./tracing.js');
  return createTracing(settings);
}
