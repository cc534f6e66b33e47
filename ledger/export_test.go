package ledger

// WithoutTelemetry returns a copy of l whose hooks record nothing and
// start no span: the ledger as it was before instrumentation, for the
// overhead benchmark (BenchmarkConsumeTelemetry).
func WithoutTelemetry(l *Ledger) *Ledger {
	cp := *l
	cp.tel = nil
	return &cp
}
