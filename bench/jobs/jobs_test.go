// Package jobs benchmarks tandem's jobs on local compute, in-process
// against one region (SQLite + folder) on loopback:
//
//   - SubmitToRunning: from `POST /jobs` answered to the job's process
//     running (status Running), environment cached (none named);
//
//   - Throughput: 40 short jobs submitted at once on a compute of 4
//     instances, to all Completed: jobs/s queued, started and finished;
//
//   - Plan: the scheduler's decision over 10,000 queued jobs on 10
//     computes (pure).
//
//     go test ./bench/jobs -run '^$' -bench . -benchtime 20x
//
// The time from a primary's kill to the resubmitted attempt running is
// measured by the failover test (leader.TestJobResubmittedAfterFailover
// logs it): go test -tags tandemtest ./leader -run TestJobResubmitted -v
package jobs

import (
	"context"
	"fmt"
	"net"
	"sort"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/schedule"
	"github.com/tandemml/tandem/storetest"
)

func serve(tb testing.TB, maxLocal int) *client.Client {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := region.Open(ctx, region.Config{Name: "local", MetadataURL: storetest.SQLiteURL(tb), ArtifactsURL: storetest.FileURL(tb),
		WorkDir: tb.TempDir(), LocalMaxInstances: maxLocal})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	tb.Cleanup(func() { cancel(); <-done; r.Close() })
	c, err := client.New(client.Config{Workspace: "bench", Endpoints: []string{"http://" + ln.Addr().String()}})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func wait(tb testing.TB, c *client.Client, name string, ok func(*tandem.Job) bool) {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if j, err := c.Job(context.Background(), name); err == nil && ok(j) {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	tb.Fatalf("job %s: timed out", name)
}

func percentile(d []time.Duration, p float64) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[int(float64(len(d)-1)*p)]
}

func BenchmarkSubmitToRunning(b *testing.B) {
	c := serve(b, 4)
	ctx := context.Background()
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("s%d", i)
		start := time.Now()
		if _, err := c.SubmitJob(ctx, &tandem.JobSpec{Type: "command", Name: name, Command: "sleep 0.2"}, b.TempDir()); err != nil {
			b.Fatal(err)
		}
		wait(b, c, name, func(j *tandem.Job) bool { return j.Status == tandem.JobRunning || j.Status.Terminal() })
		lat = append(lat, time.Since(start))
		wait(b, c, name, func(j *tandem.Job) bool { return j.Status.Terminal() })
	}
	b.ReportMetric(float64(percentile(lat, 0.5).Milliseconds()), "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Milliseconds()), "p99-ms")
}

func BenchmarkThroughput(b *testing.B) {
	const n = 40
	c := serve(b, 4)
	ctx := context.Background()
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		for k := range n {
			if _, err := c.SubmitJob(ctx, &tandem.JobSpec{Type: "command", Name: fmt.Sprintf("t%d-%d", i, k), Command: "true"}, b.TempDir()); err != nil {
				b.Fatal(err)
			}
		}
		for k := range n {
			wait(b, c, fmt.Sprintf("t%d-%d", i, k), func(j *tandem.Job) bool { return j.Status.Terminal() })
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "jobs/s")
}

func BenchmarkPlan(b *testing.B) {
	var jobs []*tandem.Job
	for i := range 10000 {
		jobs = append(jobs, &tandem.Job{Name: fmt.Sprintf("j%d", i), CreatedMS: int64(i), Status: tandem.JobQueued,
			Spec: tandem.JobSpec{Type: "command", Command: "true", Compute: fmt.Sprintf("c%d", i%10), Priority: i % 3}})
	}
	caps := map[string]schedule.Capacity{}
	for i := range 10 {
		n := fmt.Sprintf("c%d", i)
		caps[n] = schedule.Capacity{Target: tandem.ComputeTarget{Name: n, MaxInstances: 50}}
	}
	for b.Loop() {
		d := schedule.Plan(jobs, caps, 0)
		if len(d.Start) != 500 {
			b.Fatalf("started %d", len(d.Start))
		}
	}
	b.ReportMetric(float64(len(jobs))*float64(b.N)/b.Elapsed().Seconds(), "jobs-decided/s")
}

// TestSmoke runs each measurement once at a tiny size (scripts/test.sh).
func TestSmoke(t *testing.T) {
	c := serve(t, 2)
	if _, err := c.SubmitJob(context.Background(), &tandem.JobSpec{Type: "command", Name: "smoke", Command: "true"}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	wait(t, c, "smoke", func(j *tandem.Job) bool { return j.Status == tandem.JobCompleted })
}
