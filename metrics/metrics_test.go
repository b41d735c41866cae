package metrics_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coionet/coio/internal/testctx"

	"github.com/coionet/coio/iocontext"
	"github.com/coionet/coio/metrics"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMain(m *testing.M) { testctx.VerifyMain(m) }

func TestCollectorLints(t *testing.T) {
	ctx, err := iocontext.New()
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	for range 5 {
		ctx.Post(func() {})
	}
	ctx.Run()
	problems, err := testutil.CollectAndLint(metrics.NewCollector(ctx))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	if n := testutil.CollectAndCount(metrics.NewCollector(ctx), "coio_handlers_total"); n != 1 {
		t.Fatalf("coio_handlers_total series = %d", n)
	}
	want := `
# HELP coio_handlers_total Handlers run.
# TYPE coio_handlers_total counter
coio_handlers_total 5
`
	if err := testutil.CollectAndCompare(metrics.NewCollector(ctx), strings.NewReader(want), "coio_handlers_total"); err != nil {
		t.Fatal(err)
	}
}

func TestHandlerServesSeveralContexts(t *testing.T) {
	a, _ := iocontext.New()
	b, _ := iocontext.New()
	defer a.Close()
	defer b.Close()
	a.Post(func() {})
	a.Run()
	srv := httptest.NewServer(metrics.Handler(a, b))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`coio_handlers_total{context="0"} 1`,
		`coio_handlers_total{context="1"} 0`,
		`coio_ops_submitted_total{context="0",kind="post"} 1`,
		`coio_backend_info{backend="` + a.Backend().Kind.String() + `",context="0",reason=`,
		`coio_completion_latency_seconds_bucket{context="1",le="+Inf"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}
