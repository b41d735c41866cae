// Package metrics exposes what coio's engine is doing to Prometheus: NewCollector
// turns a Context's statistics (iocontext.Stats) into metrics, and Handler serves them
// on /metrics. It is the only coio package that imports the Prometheus client, so
// programs that do not want it never link it.
//
// Metric names follow the Prometheus conventions: a coio_ prefix, _total for counters,
// base units (_seconds). Labels are bounded: the backend, the operation kind (accept,
// connect, read, write, timer, post) and the error class (eof, reset, aborted,
// timeout, other) — never anything per connection. Several Contexts can be served by
// one handler; their metrics are told apart by a "context" label. The operation counts
// include operations made at once on a Try fast path, such as a coroutine's reads that
// find data waiting; coio_ops_immediate_total counts those apart (see iocontext.Stats).
package metrics
