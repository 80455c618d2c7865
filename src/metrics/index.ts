export { createMetrics, NO_METRICS, type Metrics } from './metrics.js';
