/**
 * Optional OpenTelemetry tracing: one span per check (a child of the proxy's W3C `traceparent` when it sent
 * one) and one per identity-provider call, exported over OTLP/HTTP. Nothing is registered globally: the
 * tracer provider belongs to gatehouse, and the parent of an IdP call is carried by an AsyncLocalStorage set
 * around the check. With no endpoint configured there is no tracer at all and the check path only tests for
 * `undefined`.
 * @see docs/metrics.md#traces
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingHttpHeaders } from 'node:http';
import { defaultTextMapGetter, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider } from '@opentelemetry/sdk-trace';
import { VERSION } from '../version.js';

/** The `tracing` section of the configuration. */
export interface TracingSettings {
  readonly endpoint: string;
  readonly serviceName: string;
  readonly samplePercent: number;
}

/** What the check handler records about one check. */
export interface CheckSpanResult {
  readonly outcome: string;
  readonly reason: string;
  readonly route: string | undefined;
  readonly status: number;
}

/** The span of one check. */
export interface CheckTrace {
  /** Runs `fn` with this check as the parent of the IdP calls made inside it. */
  within<T>(fn: () => T): T;
  /** Ends the span with what was decided. */
  end(result: CheckSpanResult): void;
}

/** Tracing of checks and identity-provider calls. */
export interface Tracing {
  /** Starts the span of one check; its parent is the `traceparent` the proxy sent, if any. */
  startCheck(method: string, headers: IncomingHttpHeaders): CheckTrace;
  /** Records an identity-provider request that just finished (`seconds` long). */
  idpRequest(operation: 'discovery' | 'token' | 'refresh', ok: boolean, seconds: number): void;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

/** Creates the tracer for a configured endpoint (through `loadTracing`, which loads this module only then). */
export function createTracing(settings: TracingSettings): Tracing {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': settings.serviceName, 'service.version': VERSION }),
    // A sampled parent from the proxy is followed; without one, the configured share of checks is traced.
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.samplePercent / 100) }),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: settings.endpoint, timeoutMillis: 5000 }), scheduledDelayMillis: 1000 })],
  });
  const tracer = provider.getTracer('gatehouse', VERSION);
  const propagator = new W3CTraceContextPropagator();
  const parents = new AsyncLocalStorage<Context>();
  return {
    startCheck(method, headers) {
      const parent = propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
      const span = tracer.startSpan('gatehouse check', { kind: SpanKind.SERVER, attributes: { 'http.request.method': method } }, parent);
      return {
        within: (fn) => parents.run(trace.setSpan(ROOT_CONTEXT, span), fn),
        end({ outcome, reason, route, status }) {
          // Bounded values only, as in the metrics: no host, path, user or token.
          span.setAttributes({ 'gatehouse.outcome': outcome, 'gatehouse.reason': reason, 'http.response.status_code': status, ...(route === undefined ? {} : { 'gatehouse.route': route }) });
          if (outcome === 'error') span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
          span.end();
        },
      };
    },
    idpRequest(operation, ok, seconds) {
      const endTime = Date.now();
      const span = tracer.startSpan(`idp ${operation}`, { kind: SpanKind.CLIENT, startTime: endTime - seconds * 1000, attributes: { 'gatehouse.idp.operation': operation } }, parents.getStore() ?? ROOT_CONTEXT);
      if (!ok) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end(endTime);
    },
    shutdown: () => provider.shutdown(),
  };
}
