/**
 * The official OTLP exporters, one per protocol, imported only when configured: the package for
 * the protocol asked for is loaded and the other two never are (each costs start-up time and
 * memory in every pod; docs/metrics.md has the figures). Endpoint, headers, timeout, compression,
 * certificates and temporality come from the OTEL_EXPORTER_OTLP_* variables, which every exporter
 * reads itself.
 */
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import type { OtlpProtocol } from './settings.js';

/** A metric exporter speaking `protocol`. */
export async function createMetricExporter(protocol: OtlpProtocol): Promise<PushMetricExporter> {
  // Literal specifiers, one per branch, so only the taken branch's package is ever resolved.
  switch (protocol) {
    case 'http/protobuf': {
      const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-proto');
      return new OTLPMetricExporter();
    }
    case 'grpc': {
      const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-grpc');
      return new OTLPMetricExporter();
    }
    case 'http/json': {
      const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-http');
      return new OTLPMetricExporter();
    }
  }
}

/** A span exporter speaking `protocol`. */
export async function createSpanExporter(protocol: OtlpProtocol): Promise<SpanExporter> {
  switch (protocol) {
    case 'http/protobuf': {
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
      return new OTLPTraceExporter();
    }
    case 'grpc': {
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-grpc');
      return new OTLPTraceExporter();
    }
    case 'http/json': {
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
      return new OTLPTraceExporter();
    }
  }
}
