package metrics

import (
	"net/http"
	"strconv"

	"github.com/coionet/coio/iocontext"
	"github.com/coionet/coio/proactor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// opKinds are the operation kinds reported, in label order.
var opKinds = []proactor.OpKind{proactor.OpAccept, proactor.OpConnect, proactor.OpRead, proactor.OpWrite,
	proactor.OpRecvFrom, proactor.OpSendTo, proactor.OpTimer, proactor.OpPost}

// Collector is a prometheus.Collector over one Context's statistics. Each scrape takes
// one snapshot (iocontext.Context.Stats); it never blocks the runners.
type Collector struct {
	ctx   *iocontext.Context
	label prometheus.Labels

	info, handlers, submitted, completed, immediate, errors      *prometheus.Desc
	queue, runners, busy, idle, waits, wakeups, syscalls, enters *prometheus.Desc
	streams, listeners, timers, latency                          *prometheus.Desc
	offloadBusy, offloadQueued                                   *prometheus.Desc
}

// NewCollector returns a collector for ctx. Its metrics carry no context label.
func NewCollector(ctx *iocontext.Context) *Collector { return newCollector(ctx, nil) }

func newCollector(ctx *iocontext.Context, label prometheus.Labels) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("coio_"+name, help, labels, label)
	}
	return &Collector{
		ctx:           ctx,
		label:         label,
		info:          d("backend_info", "The live backend (always 1), and why it was chosen.", "backend", "reason"),
		handlers:      d("handlers_total", "Handlers run."),
		submitted:     d("ops_submitted_total", "Operations started, by kind.", "kind"),
		completed:     d("ops_completed_total", "Operations finished (their handler ran, or they were made at once on a Try fast path), by kind.", "kind"),
		immediate:     d("ops_immediate_total", "Of the finished operations, those made at once on a Try fast path, without a handler (coroutine reads and writes that found data or room, accepts of waiting connections), by kind.", "kind"),
		errors:        d("op_errors_total", "Completed operations that ended with an error, by kind and class.", "kind", "class"),
		queue:         d("handler_queue_depth", "Handlers queued and not yet run."),
		runners:       d("runners", "Goroutines inside a run call."),
		busy:          d("runner_busy_seconds_total", "Runner time spent running handlers and reaping completions."),
		idle:          d("runner_idle_seconds_total", "Runner time spent waiting for work."),
		waits:         d("backend_waits_total", "Waits in the backend (epoll_wait, kevent, io_uring_enter)."),
		wakeups:       d("wakeups_total", "Wake-ups sent to idle runners or to the backend."),
		syscalls:      d("io_syscalls_total", "read, write, accept and connect syscalls made by operations."),
		enters:        d("uring_enters_total", "io_uring_enter calls of the io_uring backend (submissions and waits)."),
		streams:       d("open_streams", "Connections open."),
		listeners:     d("open_listeners", "Listeners open."),
		timers:        d("timers_armed", "Timers with a pending wait."),
		offloadBusy:   d("offload_busy", "Offloaded blocking functions running on the pool."),
		offloadQueued: d("offload_queued", "Offloaded blocking functions waiting for a pool goroutine."),
		latency:       d("completion_latency_seconds", "Time from an operation's completion being queued to its handler starting (sampled, 1 in 16)."),
	}
}

// Describe sends the descriptions of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.info, c.handlers, c.submitted, c.completed, c.immediate, c.errors,
		c.queue, c.runners, c.busy, c.idle, c.waits, c.wakeups, c.syscalls, c.enters,
		c.streams, c.listeners, c.timers, c.latency, c.offloadBusy, c.offloadQueued} {
		ch <- d
	}
}

// Collect takes a snapshot and sends it as metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.ctx.Stats()
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.info, 1, s.Backend.Kind.String(), s.Backend.Reason)
	counter(c.handlers, float64(s.Handlers))
	for _, k := range opKinds {
		counter(c.submitted, float64(s.Submitted[k]), k.String())
		counter(c.completed, float64(s.Completed[k]), k.String())
		counter(c.immediate, float64(s.Immediate[k]), k.String())
		for e := iocontext.ErrClass(0); e < iocontext.NumErrClasses; e++ {
			counter(c.errors, float64(s.Errors[k][e]), k.String(), e.String())
		}
	}
	gauge(c.queue, float64(s.QueueDepth))
	gauge(c.runners, float64(s.Runners))
	counter(c.busy, s.BusySeconds)
	counter(c.idle, s.IdleSeconds)
	counter(c.waits, float64(s.BackendWaits))
	counter(c.wakeups, float64(s.Wakeups))
	counter(c.syscalls, float64(s.IOSyscalls))
	counter(c.enters, float64(s.Enters))
	gauge(c.streams, float64(s.OpenStreams))
	gauge(c.listeners, float64(s.OpenListeners))
	gauge(c.timers, float64(s.TimersArmed))
	gauge(c.offloadBusy, float64(s.OffloadBusy))
	gauge(c.offloadQueued, float64(s.OffloadQueued))
	buckets := make(map[float64]uint64, len(s.Latency.Bounds))
	for i, b := range s.Latency.Bounds {
		buckets[b.Seconds()] = s.Latency.Counts[i]
	}
	ch <- prometheus.MustNewConstHistogram(c.latency, s.Latency.Count, s.Latency.Sum.Seconds(), buckets)
}

// Handler serves the metrics of the given Contexts, in the Prometheus text format, on
// any path (mount it on /metrics). With more than one Context each metric carries a
// "context" label with the Context's position in the argument list.
func Handler(ctxs ...*iocontext.Context) http.Handler {
	reg := prometheus.NewRegistry()
	for i, ctx := range ctxs {
		var label prometheus.Labels
		if len(ctxs) > 1 {
			label = prometheus.Labels{"context": strconv.Itoa(i)}
		}
		reg.MustRegister(newCollector(ctx, label))
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
