package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// The operations routes, in front of the application's:
//
//	GET /metrics   the ledger's OpenTelemetry metrics in the Prometheus text
//	               format (creditledger_operations_total,
//	               creditledger_credits_granted_total{source=...},
//	               creditledger_distribution_runs_total, ...), and the Go
//	               runtime's
//	GET /healthz   200 {"status":"ok"} when the database answers a ping
//	               within 2 s, else 503 {"status":"unavailable"}
//
// Other methods on either path answer 405 method_not_allowed with Allow.

// healthTimeout bounds the database ping of /healthz.
const healthTimeout = 2 * time.Second

// newMetrics returns a meter provider for the ledger (Config.MeterProvider)
// and the handler that serves what it records, from a Prometheus registry
// of its own (no global state: each server, and each test, has its own).
func newMetrics() (*sdkmetric.MeterProvider, http.Handler, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	return mp, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}

// withOps serves /metrics and /healthz, and everything else with app.
// They sit outside the request log, which scrapes and probes every few
// seconds would flood.
func withOps(app, metrics http.Handler, ping func(context.Context) error, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	// route: other methods get a JSON 405 with Allow, not the app's 404.
	route(mux, http.MethodGet, "/metrics", metrics.ServeHTTP)
	route(mux, http.MethodGet, "/healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		if err := ping(ctx); err != nil {
			logger.WarnContext(r.Context(), "health check: database ping failed", "error", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("/", app)
	return mux
}
