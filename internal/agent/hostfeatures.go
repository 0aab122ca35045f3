package agent

import (
	"context"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/sensor"
)

// probeHost runs the doctor's sensor probes (sensor.Probe) when the agent
// starts: every missing feature is logged with its consequence, so that a
// node's log says what it lacks, and vigil_host_feature exports the lot.
func (a *Agent) probeHost() {
	fs := sensor.Probe()
	a.features.Store(&fs)
	for _, f := range fs {
		if f.OK {
			continue
		}
		a.log.Warn("doctor: missing", "feature", f.Name, "detail", f.Detail, "consequence", f.Consequence, "required", f.Required)
	}
}

func (a *Agent) registerHostMetrics() {
	a.reg.Func("vigil_host_feature", "What the node offers, from the doctor's probes at start (1 present, 0 missing); required=\"true\" features are those the sensor cannot load without.",
		metrics.TypeGauge, []string{"feature", "required"}, func(e metrics.Emit) {
			fs := a.features.Load()
			if fs == nil {
				return
			}
			for _, f := range *fs {
				v, req := 0.0, "false"
				if f.OK {
					v = 1
				}
				if f.Required {
					req = "true"
				}
				e(v, f.Name, req)
			}
		})
	a.reg.Func("vigil_sensor_loaded", "1 when the eBPF sensor is loaded and attached; 0 when it could not load (see vigil_host_feature and the log): the agent then runs without events.",
		metrics.TypeGauge, nil, func(e metrics.Emit) {
			v := 0.0
			if a.sensorLoaded.Load() {
				v = 1
			}
			e(v)
		})
}

// noEvents is the event source of an agent whose sensor cannot load on
// this node: the HTTP endpoint, metrics, image scans and prevention run;
// no event arrives.
type noEvents struct{}

func (noEvents) Run(ctx context.Context, _ func(*event.Event)) error { <-ctx.Done(); return nil }
func (noEvents) Close() error                                        { return nil }
