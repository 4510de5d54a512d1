package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/tandemml/tandem/region"
)

// serveTandem is `bench serve-tandem`: one tandem region exactly as
// `tandem server` assembles it (region.Open + Serve), plus a second
// loopback listener the comparison uses to take a CPU profile of each
// scenario (POST /start?file=PATH, POST /stop). Only `bench compare
// --profile DIR` starts it; the measured numbers come from `tandem server`
// otherwise.
func serveTandem(args []string) error {
	fs := flag.NewFlagSet("serve-tandem", flag.ExitOnError)
	var cfg region.Config
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:5000", "address of the MLflow API")
	fs.StringVar(&cfg.MetadataURL, "metadata", "", "metadata URL")
	fs.StringVar(&cfg.ArtifactsURL, "artifacts", "", "artifacts URL")
	ctl := fs.String("profile-listen", "127.0.0.1:0", "loopback address of the profile control endpoint")
	ctlFile := fs.String("profile-addr-file", "", "write the control endpoint's address here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := region.Open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("open region: %w", err)
	}
	defer r.Close()

	ln, err := net.Listen("tcp", *ctl)
	if err != nil {
		return fmt.Errorf("profile listener: %w", err)
	}
	if *ctlFile != "" {
		if err := os.WriteFile(*ctlFile, []byte(ln.Addr().String()), 0o644); err != nil {
			return err
		}
	}
	var mu sync.Mutex
	var cur *os.File
	mux := http.NewServeMux()
	mux.HandleFunc("POST /start", func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if cur != nil {
			pprof.StopCPUProfile()
			cur.Close()
			cur = nil
		}
		f, err := os.Create(req.URL.Query().Get("file"))
		if err == nil {
			if err = pprof.StartCPUProfile(f); err != nil {
				f.Close()
			}
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		cur = f
	})
	mux.HandleFunc("POST /stop", func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if cur != nil {
			pprof.StopCPUProfile()
			cur.Close()
			cur = nil
		}
	})
	psrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go psrv.Serve(ln)
	defer psrv.Close()
	return r.Serve(ctx, nil)
}
