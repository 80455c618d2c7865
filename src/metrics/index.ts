export { createMetrics, NO_METRICS, type Metrics } from './metrics.js';
export { createTracing, type CheckSpanResult, type CheckTrace, type Tracing, type TracingSettings } from './tracing.js';
