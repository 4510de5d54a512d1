package region

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/imagecopy"
	"github.com/tandemml/tandem/workspace"
)

// DefaultImageSyncInterval is how often a region with a registry checks
// that it holds every environment's image when Config.ImageSyncInterval
// is zero.
const DefaultImageSyncInterval = 30 * time.Second

// imageSync keeps the region's registry holding the image of every
// environment version the region has (replicated from the primary like
// any environment): on a timer and when kicked, it checks each digest and
// copies the missing ones from the image's origin, else from another
// region's copy (imagecopy.Wants orders the sources), so the region does
// not need another region's registry once the copy is done. Under the
// replication policy environments: none it only reports what is missing.
type imageSync struct {
	r          *Region
	registries map[string]string // region -> registry
	copyImages bool
	interval   time.Duration
	client     *imagecopy.Client
	kick       chan struct{}
	missing    *prometheus.GaugeVec
	copied     *prometheus.CounterVec

	mu        sync.Mutex
	status    map[string]*tandem.ImageStatus // by destination
	checkedMS int64
	lastErr   string
}

func (r *Region) openImages() *imageSync {
	ws := r.cfg.Workspace
	s := &imageSync{r: r, registries: map[string]string{}, interval: r.cfg.ImageSyncInterval, client: imagecopy.New(),
		kick: make(chan struct{}, 1), status: map[string]*tandem.ImageStatus{}, copyImages: true,
		missing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tandem_images_missing",
			Help: "Environment images this region's registry lacks (tandem verify names them)."}, []string{"region"}),
		copied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_image_copies_total",
			Help: "Image copies into this region's registry, by result."}, []string{"region", "result"})}
	if s.interval <= 0 {
		s.interval = DefaultImageSyncInterval
	}
	if ws != nil {
		for _, reg := range ws.Regions {
			if reg.Registry != "" {
				s.registries[reg.Name] = reg.Registry
			}
		}
		if p, ok := ws.Policies[tandem.KindEnvironments]; ok && p.Policy == workspace.None {
			s.copyImages = false
		}
	}
	s.missing.WithLabelValues(r.cfg.Name).Set(0)
	r.Metrics.MustRegister(s.missing, s.copied)
	const p = "/api/tandem/v1/images"
	r.mux.HandleFunc("GET "+p, func(w http.ResponseWriter, req *http.Request) { writeAPIJSON(w, s.report()) })
	r.mux.HandleFunc("POST "+p+"/sync", func(w http.ResponseWriter, req *http.Request) {
		s.Kick()
		w.WriteHeader(http.StatusAccepted)
		writeAPIJSON(w, s.report())
	})
	return s
}

func (s *imageSync) report() tandem.ImagesReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	own := s.registries[s.r.cfg.Name]
	rep := tandem.ImagesReport{Region: s.r.cfg.Name, Registry: own, Copies: own != "" && s.copyImages, CheckedMS: s.checkedMS,
		Error: s.lastErr, Images: []tandem.ImageStatus{}}
	for _, st := range s.status {
		rep.Images = append(rep.Images, *st)
	}
	sort.Slice(rep.Images, func(i, j int) bool {
		a, b := rep.Images[i], rep.Images[j]
		if a.Environment != b.Environment {
			return a.Environment < b.Environment
		}
		return a.Version < b.Version
	})
	return rep
}

// Kick asks for a pass now.
func (s *imageSync) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run passes at once, then every interval or kick, until ctx ends. A
// region without a registry does nothing.
func (s *imageSync) Run(ctx context.Context) {
	if s.registries[s.r.cfg.Name] == "" {
		return
	}
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		s.pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

func (s *imageSync) images(ctx context.Context) ([]imagecopy.Image, error) {
	envs, err := s.r.Store.ListAssets(ctx, tandem.AssetEnvironment, "", false)
	if err != nil {
		return nil, err
	}
	return imagecopy.FromAssets(envs), nil
}

func (s *imageSync) pass(ctx context.Context) {
	ims, err := s.images(ctx)
	var wants []imagecopy.Want
	if err == nil {
		wants, err = imagecopy.Wants(ims, s.r.cfg.Name, s.registries)
	}
	if err != nil {
		s.mu.Lock()
		s.lastErr = tandem.ErrorMessage(err)
		s.checkedMS = time.Now().UnixMilli()
		s.mu.Unlock()
		return
	}
	keep := map[string]bool{}
	missing := 0
	for _, w := range wants {
		keep[w.Destination] = true
		if ctx.Err() != nil {
			return
		}
		if s.ensure(ctx, w) != tandem.ImagePresent {
			missing++
		}
	}
	s.mu.Lock()
	for d := range s.status {
		if !keep[d] {
			delete(s.status, d)
		}
	}
	s.lastErr = ""
	s.checkedMS = time.Now().UnixMilli()
	s.mu.Unlock()
	s.missing.WithLabelValues(s.r.cfg.Name).Set(float64(missing))
}

func (s *imageSync) set(w imagecopy.Want, f func(*tandem.ImageStatus)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status[w.Destination]
	if st == nil {
		st = &tandem.ImageStatus{}
		s.status[w.Destination] = st
	}
	st.Environment, st.Version, st.Source, st.Digest, st.Destination = w.Environment, w.Version, w.Source, w.Digest, w.Destination
	f(st)
	st.UpdatedMS = time.Now().UnixMilli()
}

// ensure checks one image and copies it when it is missing; it returns
// the state it leaves.
func (s *imageSync) ensure(ctx context.Context, w imagecopy.Want) string {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	ok, err := s.client.Has(cctx, w.Destination)
	cancel()
	if err != nil {
		s.set(w, func(st *tandem.ImageStatus) {
			st.State, st.Error = tandem.ImageFailed, "this region's registry: "+tandem.ErrorMessage(err)
		})
		return tandem.ImageFailed
	}
	if ok {
		s.set(w, func(st *tandem.ImageStatus) {
			st.State, st.Error = tandem.ImagePresent, ""
			if st.BytesTotal > 0 {
				st.BytesDone = st.BytesTotal
			}
		})
		return tandem.ImagePresent
	}
	if !s.copyImages {
		s.set(w, func(st *tandem.ImageStatus) { st.State, st.Error = tandem.ImageMissing, "" })
		return tandem.ImageMissing
	}
	var errs []string
	for _, src := range w.Sources {
		s.set(w, func(st *tandem.ImageStatus) {
			st.State, st.From, st.BytesDone, st.BytesTotal = tandem.ImageCopying, src, 0, 0
		})
		s.r.log.Info("image copy", "environment", w.Environment, "version", w.Version, "from", src, "to", w.Destination)
		err := s.client.Copy(ctx, src, w.Destination, w.Tag, func(p imagecopy.Progress) {
			s.set(w, func(st *tandem.ImageStatus) { st.BytesDone, st.BytesTotal = p.Done, p.Total })
		})
		if err == nil {
			s.copied.WithLabelValues(s.r.cfg.Name, "ok").Inc()
			s.set(w, func(st *tandem.ImageStatus) { st.State, st.Error = tandem.ImagePresent, "" })
			return tandem.ImagePresent
		}
		s.copied.WithLabelValues(s.r.cfg.Name, "failed").Inc()
		errs = append(errs, fmt.Sprintf("from %s: %s", src, tandem.ErrorMessage(err)))
		if ctx.Err() != nil {
			break
		}
	}
	msg := strings.Join(errs, "; ")
	if len(w.Sources) == 0 {
		msg = "no source holds it"
	}
	s.r.log.Warn("image copy failed", "environment", w.Environment, "version", w.Version, "err", msg)
	s.set(w, func(st *tandem.ImageStatus) { st.State, st.Error = tandem.ImageFailed, msg })
	return tandem.ImageFailed
}
