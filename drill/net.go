package drill

import (
	"context"
	"fmt"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// network is the network of a partition drill: one toxiproxy proxy, in
// this process, on every path a region uses (to each other region and to
// the witness), so that a partition can cut exactly the paths to and from
// one region. Nothing needs to be installed: toxiproxy runs as a library.
type network struct {
	srv *toxiproxy.ApiServer

	mu      sync.Mutex
	proxies map[link]*toxiproxy.Proxy
	cut     []link
}

func newNetwork() *network {
	return &network{srv: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop()),
		proxies: map[link]*toxiproxy.Proxy{}}
}

// add starts a proxy on 127.0.0.1 (an OS-assigned port) for link, in
// front of upstream (host:port), and returns its address.
func (n *network) add(l link, upstream string) (string, error) {
	p := toxiproxy.NewProxy(n.srv, l.From+"-"+l.To, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return "", fmt.Errorf("drill: proxy %s -> %s: %w", l.From, l.To, err)
	}
	n.mu.Lock()
	n.proxies[l] = p
	n.mu.Unlock()
	return p.Listen, nil
}

// partition blackholes the given links in both directions: bytes already
// in flight and new connections go nowhere (a timeout toxic with no
// timeout), as when a network drops packets, until heal.
func (n *network) partition(links []link) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, l := range links {
		p := n.proxies[l]
		if p == nil {
			return fmt.Errorf("drill: no proxy for %s -> %s", l.From, l.To)
		}
		for _, dir := range []string{"upstream", "downstream"} {
			js := fmt.Sprintf(`{"name":"cut-%s","type":"timeout","stream":%q,"toxicity":1,"attributes":{"timeout":0}}`, dir, dir)
			if _, err := p.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
				return fmt.Errorf("drill: cut %s -> %s: %w", l.From, l.To, err)
			}
		}
		n.cut = append(n.cut, l)
	}
	return nil
}

// heal removes every cut; connections that were blackholed are closed.
func (n *network) heal(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, l := range n.cut {
		p := n.proxies[l]
		for _, dir := range []string{"upstream", "downstream"} {
			if err := p.Toxics.RemoveToxic(ctx, "cut-"+dir); err != nil {
				return fmt.Errorf("drill: heal %s -> %s: %w", l.From, l.To, err)
			}
		}
	}
	n.cut = nil
	return nil
}

// close stops every proxy.
func (n *network) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.proxies {
		p.Stop()
	}
}
