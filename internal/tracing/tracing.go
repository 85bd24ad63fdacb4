// Package tracing makes OpenTelemetry spans for requests and for each
// upstream attempt, and exports them over OTLP/HTTP. An incoming W3C
// traceparent is continued; every attempt sends the upstream a traceparent
// of the same trace, with the attempt's span as parent. A nil *Tracer
// (tracing off, the default) does nothing and costs nothing.
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse/gatehouse/internal/config"
)

// Tracer starts spans and exports them. A nil *Tracer does nothing.
type Tracer struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	prop     propagation.TraceContext
}

// New returns the tracer cfg asks for, nil when tracing is off.
func New(cfg config.Tracing) (*Tracer, error) {
	if cfg.OTLP == "" {
		return nil, nil
	}
	exp, err := otlptracehttp.New(context.Background(),
		otlptracehttp.WithEndpointURL(strings.TrimSuffix(cfg.OTLP, "/")+"/v1/traces"))
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(cfg.ServiceName))
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(*cfg.SampleRatio))),
	)
	return &Tracer{provider: provider, tracer: provider.Tracer("gatehouse")}, nil
}

// Close exports the spans still queued (for at most five seconds) and
// stops the tracer.
func (t *Tracer) Close() error {
	if t == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return t.provider.Shutdown(ctx)
}

// Request is the span of one request. The zero Request does nothing.
type Request struct {
	span   trace.Span
	method string
}

// StartRequest starts the span of r, continuing the trace of its
// traceparent when it has one, and returns r with the span in its context
// and the trace's ID.
func (t *Tracer) StartRequest(r *http.Request) (*http.Request, Request, string) {
	if t == nil {
		return r, Request{}, ""
	}
	ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := t.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		semconv.HTTPRequestMethodKey.String(r.Method),
		semconv.URLPath(r.URL.Path),
		semconv.ServerAddress(r.Host),
		semconv.NetworkProtocolName("http"),
		semconv.UserAgentOriginal(r.UserAgent()),
	))
	return r.WithContext(ctx), Request{span: span, method: r.Method}, span.SpanContext().TraceID().String()
}

// End ends the request's span with the route that answered, the client's
// address and the response status (5xx marks an error).
func (q Request) End(route, client string, status int) {
	if q.span == nil {
		return
	}
	if route != "" {
		q.span.SetName(q.method + " " + route) // the HTTP server span name convention
		q.span.SetAttributes(semconv.HTTPRoute(route))
	}
	q.span.SetAttributes(semconv.ClientAddress(client), semconv.HTTPResponseStatusCode(status))
	if status >= 500 {
		q.span.SetStatus(codes.Error, http.StatusText(status))
	}
	q.span.End()
}

// Attempt is the span of one upstream attempt. The zero Attempt does
// nothing.
type Attempt struct {
	span trace.Span
}

// StartAttempt starts the span of an attempt of the request whose context
// is ctx, to server of pool, and returns the traceparent (and tracestate,
// "" when none) to send the upstream.
func (t *Tracer) StartAttempt(ctx context.Context, method, pool, server string) (a Attempt, traceparent, tracestate string) {
	if t == nil {
		return Attempt{}, "", ""
	}
	ctx, span := t.tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		semconv.HTTPRequestMethodKey.String(method),
		semconv.ServerAddress(server),
		attribute.String("gatehouse.pool", pool),
	))
	carrier := propagation.MapCarrier{}
	t.prop.Inject(ctx, carrier)
	return Attempt{span: span}, carrier["traceparent"], carrier["tracestate"]
}

// End ends the attempt's span with its response status, or its error.
func (a Attempt) End(status int, err error) {
	if a.span == nil {
		return
	}
	switch {
	case err != nil:
		a.span.RecordError(err)
		a.span.SetStatus(codes.Error, err.Error())
	default:
		a.span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if status >= 500 {
			a.span.SetStatus(codes.Error, http.StatusText(status))
		}
	}
	a.span.End()
}
