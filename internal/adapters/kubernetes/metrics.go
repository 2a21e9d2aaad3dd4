package kubernetes

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	clientmetrics "k8s.io/client-go/tools/metrics"
)

// requests counts the API requests client-go makes, by method and result
// code: what following rollouts costs the API server.
var requests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "shipmate_kubernetes_requests_total",
	Help: "Kubernetes API requests made by Shipmate, by HTTP method and result code.",
}, []string{"method", "code"})

var registerOnce sync.Once

type requestResult struct{}

func (requestResult) Increment(_ context.Context, code, method, _ string) {
	requests.WithLabelValues(method, code).Inc()
}

// RegisterMetrics adds the Kubernetes client's request counter to reg. It
// hooks client-go's process-wide metrics, so only the first call counts.
func RegisterMetrics(reg prometheus.Registerer) error {
	var err error
	registerOnce.Do(func() {
		clientmetrics.Register(clientmetrics.RegisterOpts{RequestResult: requestResult{}})
		err = reg.Register(requests)
	})
	return err
}
