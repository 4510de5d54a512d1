package replication

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tandemml/tandem"
)

// metrics are the region's replication metrics. Lag gauges are computed at
// scrape time from Status, so /metrics and `tandem status` always agree.
type metrics struct {
	applied      prometheus.Counter
	errors       prometheus.Counter
	applyErrors  prometheus.Counter
	blobErrors   prometheus.Counter
	blobBytes    prometheus.Counter
	degradations prometheus.Counter
	applyDelay   prometheus.Histogram
	refused      *prometheus.CounterVec
}

func newMetrics(s *Service, reg *prometheus.Registry) *metrics {
	m := &metrics{
		applied: prometheus.NewCounter(prometheus.CounterOpts{Name: "tandem_replication_applied_entries_total",
			Help: "Journal entries this secondary applied."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "tandem_replication_errors_total",
			Help: "Replication attempts that failed and were retried."}),
		applyErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "tandem_replication_apply_errors_total",
			Help: "Attempts of this secondary to apply fetched journal entries that failed (the entry is retried, never skipped)."}),
		blobErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "tandem_replication_blob_errors_total",
			Help: "Artifact fetches that failed (network or SHA-256 mismatch); none was applied."}),
		blobBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "tandem_replication_blob_bytes_total",
			Help: "Artifact bytes fetched from the primary and stored."}),
		degradations: prometheus.NewCounter(prometheus.CounterOpts{Name: "tandem_replication_sync_degradations_total",
			Help: "Times a sync primary fell back to async because no secondary acknowledged in time."}),
		applyDelay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tandem_replication_apply_delay_seconds",
			Help:    "Time from an entry's commit on the primary to its apply on this secondary.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_writes_refused_total",
			Help: "Writes this region refused with UNAVAILABLE: reason secondary (not forwarded), primary_unreachable (forward failed), stale_epoch (a forward from an older epoch)."},
			[]string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.applied, m.errors, m.applyErrors, m.blobErrors, m.blobBytes, m.degradations, m.applyDelay, m.refused, &lagCollector{s: s})
	}
	return m
}

var (
	descLagSeconds = prometheus.NewDesc("tandem_replication_lag_seconds",
		"Age of the oldest journal entry the secondary has not applied (0 when caught up).", []string{"region", "secondary"}, nil)
	descLagEntries = prometheus.NewDesc("tandem_replication_lag_entries",
		"Journal entries the secondary has not applied.", []string{"region", "secondary"}, nil)
	descLagBytes = prometheus.NewDesc("tandem_replication_lag_bytes",
		"Payload and artifact bytes of the entries the secondary has not applied (primary's view).", []string{"region", "secondary"}, nil)
	descLastApply = prometheus.NewDesc("tandem_replication_last_apply_timestamp_seconds",
		"When the secondary last applied an entry (Unix time).", []string{"region", "secondary"}, nil)
	descHead = prometheus.NewDesc("tandem_journal_head_seq",
		"Sequence number of this region's last journal entry.", []string{"region"}, nil)
	descRole = prometheus.NewDesc("tandem_region_primary",
		"1 when this region is the primary, 0 otherwise.", []string{"region"}, nil)
	descEpoch = prometheus.NewDesc("tandem_region_epoch",
		"The epoch this region knows.", []string{"region"}, nil)
	descDegraded = prometheus.NewDesc("tandem_replication_sync_degraded",
		"1 while a sync primary runs async after a missed acknowledgement.", []string{"region"}, nil)
	descApplyBlocked = prometheus.NewDesc("tandem_replication_apply_blocked",
		"1 while this secondary's last attempt to apply the next journal entry failed (status: self.apply_blocked, last_error).", []string{"region"}, nil)
	descLastSeen = prometheus.NewDesc("tandem_replication_follower_last_seen_timestamp_seconds",
		"When the primary last heard from the secondary (a journal request; Unix time).", []string{"region", "secondary"}, nil)
	descBootstrap = prometheus.NewDesc("tandem_replication_bootstrap_remaining_bytes",
		"Artifact bytes a bootstrapping secondary still has to fetch.", []string{"region"}, nil)
)

// lagCollector reads Status at scrape time.
type lagCollector struct{ s *Service }

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLagSeconds, descLagEntries, descLagBytes, descLastApply, descHead, descRole, descEpoch, descDegraded, descApplyBlocked, descBootstrap, descLastSeen} {
		ch <- d
	}
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.s.Status(ctx)
	if err != nil {
		return
	}
	region := st.Region
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descHead, float64(st.Head.Seq), region)
	gauge(descEpoch, float64(st.Role.Epoch), region)
	primary := 0.0
	if st.Role.Role == tandem.RolePrimary {
		primary = 1
	}
	gauge(descRole, primary, region)
	degraded := 0.0
	if st.Degraded {
		degraded = 1
	}
	gauge(descDegraded, degraded, region)
	fs := st.Followers
	if st.Self != nil {
		fs = append(fs, *st.Self)
		blocked := 0.0
		if st.Self.ApplyBlocked != nil {
			blocked = 1
		}
		gauge(descApplyBlocked, blocked, region)
		if b := st.Self.Bootstrap; b != nil && b.Phase != "done" {
			gauge(descBootstrap, float64(b.BytesTotal-b.BytesDone), region)
		}
	}
	for _, f := range fs {
		gauge(descLagSeconds, f.LagSeconds, region, f.Region)
		gauge(descLagEntries, float64(f.LagEntries), region, f.Region)
		if st.Self == nil {
			gauge(descLagBytes, float64(f.LagBytes), region, f.Region)
		}
		if f.LastSeen != nil && st.Self == nil {
			gauge(descLastSeen, float64(f.LastSeen.UnixMilli())/1000, region, f.Region)
		}
		if f.LastApply != nil {
			gauge(descLastApply, float64(f.LastApply.UnixMilli())/1000, region, f.Region)
		}
	}
}
