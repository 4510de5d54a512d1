//go:build tandemtest

package leader_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/failover"
	"github.com/tandemml/tandem/leader"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/sqlstore"
)

// TestChaosNetwork is the network half of the chaos suite: three regions
// and the built-in witness as real processes whose every link (region to
// region, region to witness, each direction) goes through toxiproxy.
// Concurrent clients write to whichever region is primary (directly, not
// through the proxies; one client writes to a secondary, which forwards,
// and reads its write back there when the secondary says it applied it)
// and record every operation with its call and return time. Each
// iteration injects, in an order drawn from the seed, with each partition
// either refusing connections or stalling them (bytes held, then delivered
// late):
//
//   - partition-primary: the primary is cut from the witness and the
//     secondaries (clients still reach it); it must refuse writes on its
//     own, a secondary takes over in a newer epoch, and after the heal the
//     old primary rejoins (its divergent tail goes to a report);
//   - primary-loses-witness: the same with only the primary's link to the
//     witness cut (its peers still reach it);
//   - partition-secondary: one secondary is cut from the primary only: no
//     failover, and it catches up after the heal;
//   - latency: 100-250 ms each way (±50 ms) on every link, for three
//     leases: writes go on (a failover, if one happens, is logged and the
//     invariants still checked);
//   - witness-down: no region reaches the witness for three leases: no
//     write may be acknowledged once the lease can no longer be confirmed,
//     and writes resume after the heal;
//   - flap: short faults back to back for five leases (a region isolated
//     or cut from the witness, two regions cut from each other, a region
//     SIGKILLed and restarted), healing mid-election or mid-rejoin.
//
// After each fault heals, clients pause, all regions must converge to the
// primary's journal (positions equal, register values equal everywhere)
// and resume. After each iteration and at the end the checker asserts: one
// region per epoch; no write of an older epoch acknowledged after a newer
// epoch's write returned; the register operations are linearizable
// (porcupine; on failure the visualization's path is printed). At the end
// also: every acknowledged write is in the final primary's history (sync)
// or in it or a divergence report (async), never both; reports hold only
// writes clients sent and were not told were refused; secondaries are
// prefixes of the primary; `tandem verify` passes.
//
// TANDEM_CHAOS_ITERATIONS (default 1) sets the iterations per durability
// mode, TANDEM_CHAOS_SEED the seed (printed; on failure the process logs
// are kept and their directory printed). The soak command is
//
//	TANDEM_CHAOS_ITERATIONS=20 go test ./leader -run 'TestChaos|TestFailoverEndToEnd' -timeout 120m -v
func TestChaosNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	iterations := 1
	if s := os.Getenv("TANDEM_CHAOS_ITERATIONS"); s != "" {
		iterations, _ = strconv.Atoi(s)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TANDEM_CHAOS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("TANDEM_CHAOS_SEED=%d TANDEM_CHAOS_ITERATIONS=%d", seed, iterations)
	for i, mode := range []string{"sync", "async"} {
		t.Run(mode, func(t *testing.T) {
			durability := "{mode: async}"
			if mode == "sync" {
				durability = "{mode: sync, timeout: 3s, on_no_ack: fail}"
			}
			runChaos(t, mode, durability, seed+uint64(i), iterations)
		})
	}
}

const (
	// chaosClients write concurrently: all but the last write to the
	// primary; the last one writes to a secondary, which forwards.
	chaosClients   = 4
	chaosRegisters = 3
	lease          = 2 * time.Second // lease_ttl in newCluster's workspace file
)

// opRec is one client operation as the client saw it. Times are
// nanoseconds since the run started.
type opRec struct {
	client     int
	put        bool
	register   bool // a register key (linearizability check) rather than a unique one
	key, value string
	call, ret  int64
	acked      bool // put: acknowledged
	unknown    bool // put: failed in a way that may have committed
	region     string
	pos        tandem.Position
}

type chaos struct {
	t     *testing.T
	mode  string
	c     *cluster
	tp    *toxi
	rng   *rand.Rand
	start time.Time

	mu   sync.Mutex
	ops  []opRec
	gate sync.RWMutex // checkpoints hold it exclusively: clients pause
	stop chan struct{}
	wg   sync.WaitGroup

	settled  []int64      // when each checkpoint finished (see registerHistory)
	spurious int          // failovers during latency
	rywRead  atomic.Int64 // forwarded writes read back on their secondary
}

func (ch *chaos) now() int64 { return time.Since(ch.start).Nanoseconds() }

func (ch *chaos) record(o opRec) {
	ch.mu.Lock()
	ch.ops = append(ch.ops, o)
	ch.mu.Unlock()
}

func (ch *chaos) settledTimes() []int64 {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return slices.Clone(ch.settled)
}

func (ch *chaos) snapshot() []opRec {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return slices.Clone(ch.ops)
}

// ackedSince counts acknowledged puts whose call started at or after t.
func (ch *chaos) ackedSince(t int64) (n int, regions map[string]int) {
	regions = map[string]int{}
	for _, o := range ch.snapshot() {
		if o.put && o.acked && o.call >= t {
			n++
			regions[fmt.Sprintf("%s/e%d", o.region, o.pos.Epoch)]++
		}
	}
	return n, regions
}

// notApplied reports whether a failed write certainly did not commit: the
// region was not listening or its gate refused it.
func notApplied(err error) bool {
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "is not accepting writes")
}

func (ch *chaos) runClients() {
	ch.stop = make(chan struct{})
	for i := range chaosClients {
		ch.wg.Add(1)
		rng := rand.New(rand.NewPCG(ch.rng.Uint64(), uint64(i)))
		go func() {
			defer ch.wg.Done()
			target := ""
			for j := 0; ; j++ {
				select {
				case <-ch.stop:
					return
				default:
				}
				ch.gate.RLock()
				// Client 0 sticks to a region until it fails; the others
				// look for the newest primary every few writes, so that a
				// region still writing in an older epoch (split brain)
				// shows in the records next to the new one.
				if target == "" || (i > 0 && j%(4*i) == 0) {
					target, _ = ch.c.primary()
				}
				label := target
				if i == chaosClients-1 && target != "" {
					sec := ch.others(target)
					target = sec[rng.IntN(len(sec))]
					label = "fwd:" + target
				}
				if target == "" {
					ch.gate.RUnlock()
					time.Sleep(50 * time.Millisecond)
					continue
				}
				o := opRec{client: i, put: true, key: fmt.Sprintf("u%d-%d", i, j), region: label}
				o.value = "v-" + o.key
				if j%2 == 1 {
					o.register = true
					o.key, o.value = fmt.Sprintf("reg-%d", rng.IntN(chaosRegisters)), fmt.Sprintf("c%d-%d", i, j)
				}
				o.call = ch.now()
				a, err := ch.c.writeValue(target, o.key, o.value)
				o.ret = ch.now()
				if err == nil {
					o.acked, o.pos = true, a.pos
				} else {
					o.unknown = !notApplied(err)
					target = ""
				}
				if i == chaosClients-1 {
					if err == nil && !o.register && a.ryw == "ok" {
						ch.checkReadYourWrite(target, o)
					}
					target = ""
				}
				ch.record(o)
				ch.gate.RUnlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				} else {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
}

func (ch *chaos) haltClients() {
	close(ch.stop)
	ch.wg.Wait()
}

func runChaos(t *testing.T, mode, durability string, seed uint64, iterations int) {
	tp := startToxiproxy(t)
	c := newChaosCluster(t, tp, durability, "a", "b", "c")
	ch := &chaos{t: t, mode: mode, c: c, tp: tp, rng: rand.New(rand.NewPCG(seed, 0)), start: time.Now()}
	keepLogsOnFailure(t, c, seed)
	ch.bootstrap()
	ch.runClients()
	faults := []string{"partition-primary", "primary-loses-witness", "partition-secondary", "latency", "witness-down", "flap"}
	for it := range iterations {
		order := slices.Clone(faults)
		ch.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, f := range order {
			before := ch.now()
			waitFor(t, 20*time.Second, "writes before "+f, func() (bool, string) {
				n, _ := ch.ackedSince(before)
				return n >= 20, fmt.Sprint(n)
			})
			t0 := time.Now()
			switch f {
			case "partition-primary":
				ch.partitionPrimary(false)
			case "primary-loses-witness":
				ch.partitionPrimary(true)
			case "partition-secondary":
				ch.partitionSecondary()
			case "latency":
				ch.latency()
			case "witness-down":
				ch.witnessDown()
			case "flap":
				ch.flap()
			}
			ch.checkpoint(fmt.Sprintf("iteration %d, after %s", it, f))
			t.Logf("iteration %d: %s done in %s", it, f, time.Since(t0).Round(time.Millisecond))
		}
		if it < iterations-1 {
			ch.checkHistory() // the full check (with verify) runs at the end
		}
		if t.Failed() {
			break
		}
	}
	ch.haltClients()
	ch.checkpoint("end")
	ch.check()
}

// bootstrap starts the witness and the regions and waits until a is
// primary and the others follow it.
func (ch *chaos) bootstrap() {
	ch.c.startAll(ch.t, 40*time.Second)
}

// keepLogsOnFailure copies every process's log to a directory that
// outlives the test when it fails, and prints its path with the seed.
func keepLogsOnFailure(t *testing.T, c *cluster, seed uint64) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		dir, err := os.MkdirTemp("", "tandem-chaos-logs-")
		if err != nil {
			return
		}
		c.mu.Lock()
		for n, l := range c.logs {
			os.WriteFile(filepath.Join(dir, n+".log"), []byte(l.String()), 0o600)
		}
		c.mu.Unlock()
		t.Logf("seed %d: full process logs kept in %s", seed, dir)
	})
}

// secondaries returns the regions other than p.
func (ch *chaos) others(p string) []string {
	var out []string
	for _, n := range ch.c.names {
		if n != p {
			out = append(out, n)
		}
	}
	return out
}

// partition cuts the named links, at random either refusing connections
// (closed at once, new ones refused) or stalling them (bytes held until
// the heal, then delivered late), and says which.
func (ch *chaos) partition(names ...string) string {
	if ch.rng.IntN(2) == 0 {
		ch.tp.cut(names...)
		return "refuse"
	}
	ch.tp.stall(names...)
	return "stall"
}

// partitionPrimary cuts the primary from the witness and both secondaries
// (both directions), or with witnessOnly from the witness alone (its peers
// still reach it and tell it the new epoch); clients still reach it
// directly. It must stop writing on its own, another region must take
// over in a newer epoch, and after the heal it rejoins (checkpoint).
func (ch *chaos) partitionPrimary(witnessOnly bool) {
	t, c := ch.t, ch.c
	fault := "partition-primary"
	if witnessOnly {
		fault = "primary-loses-witness"
	}
	old, ost := c.primary()
	if old == "" {
		t.Fatalf("%s: no primary", fault)
	}
	cutAt := ch.now()
	links := append(ch.tp.links(old, "*"), ch.tp.links("*", old)...)
	if witnessOnly {
		links = ch.tp.links(old, "w")
	}
	how := ch.partition(links...)
	cutDone := ch.now()
	// Liveness within a generous bound (the lease is 2 s).
	waitFor(t, 20*time.Second, old+" refuses writes", func() (bool, string) { return ch.refuses(old) })
	var newP string
	waitFor(t, 30*time.Second, "another region writing in a newer epoch", func() (bool, string) {
		for _, o := range ch.snapshot() {
			if o.acked && o.pos.Epoch > ost.Epoch && o.call >= cutAt && !strings.HasPrefix(o.region, "fwd:") {
				newP = o.region
				return true, ""
			}
		}
		p, st := c.primary()
		return false, fmt.Sprint(p, st.Epoch)
	})
	if newP == old {
		t.Errorf("%s: the partitioned region %s acknowledged a write in a newer epoch", fault, old)
	}
	time.Sleep(lease / 2)
	healAt := ch.now()
	ch.tp.heal()
	ch.checkLeaseBound(fault, ost.Epoch, cutDone, healAt)
	t.Logf("%s (%s): %s (epoch %d) cut off; %s took over", fault, how, old, ost.Epoch, newP)
}

// partitionSecondary cuts one secondary from the primary only (both
// directions); it still reaches the witness and the other secondary. No
// failover may happen; after the heal it catches up.
func (ch *chaos) partitionSecondary() {
	t, c := ch.t, ch.c
	p, pst := c.primary()
	if p == "" {
		t.Fatal("partition-secondary: no primary")
	}
	sec := ch.others(p)
	s := sec[ch.rng.IntN(len(sec))]
	how := ch.partition(append(ch.tp.links(s, p), ch.tp.links(p, s)...)...)
	time.Sleep(lease)
	ch.checkPrefix(p, s) // a lagging secondary is still a prefix
	time.Sleep(lease)
	p2, pst2 := c.primary()
	head := pst2.Head
	ch.tp.heal()
	if p2 != p || pst2.Epoch != pst.Epoch {
		t.Errorf("partition-secondary: cutting %s from the primary %s changed the primary to %q epoch %d (was %d)", s, p, p2, pst2.Epoch, pst.Epoch)
	}
	waitFor(t, 30*time.Second, s+" catches up after the heal", func() (bool, string) {
		st, err := status(c.urls[s])
		return err == nil && st.Head.Seq >= head.Seq && st.Primary == p, fmt.Sprint(st.Head, head, st.Primary, err)
	})
	t.Logf("partition-secondary (%s): %s cut from %s for %s; caught up to %s", how, s, p, 2*lease, head)
}

// latency adds 100-250 ms each way (jitter ±50 ms) on every link for three
// leases. Writes must go on; a failover is allowed (the invariants are
// checked anyway) and logged.
func (ch *chaos) latency() {
	t, c := ch.t, ch.c
	p, pst := c.primary()
	d := time.Duration(100+ch.rng.IntN(151)) * time.Millisecond
	ch.tp.slow(d, 50*time.Millisecond, ch.tp.links("*", "*")...)
	from := ch.now()
	for range 3 {
		time.Sleep(lease)
		if p2, _ := c.primary(); p2 == p {
			for _, s := range ch.others(p) {
				ch.checkPrefix(p, s)
			}
		}
	}
	n, by := ch.ackedSince(from)
	p2, pst2 := c.primary()
	ch.tp.heal()
	if n == 0 {
		t.Errorf("latency %s each way: no write acknowledged in %s", d, 3*lease)
	}
	if p2 != p || pst2.Epoch != pst.Epoch {
		ch.spurious++
		t.Logf("latency: NOTE: the primary changed from %s (epoch %d) to %q (epoch %d) under %s each way", p, pst.Epoch, p2, pst2.Epoch, d)
	}
	t.Logf("latency %s each way for %s: %d writes acknowledged %v", d, 3*lease, n, by)
}

// flap injects short faults back to back for about five leases: a region
// isolated, a region cut from the witness, two regions cut from each
// other (refused or stalled), or a region SIGKILLed and restarted, each
// for 0.3-3 s with gaps of up to 1.5 s: faults that heal in the middle of
// an election, a renewal, a catch-up or a rejoin.
func (ch *chaos) flap() {
	c, tp := ch.c, ch.tp
	var done []string
	for end := time.Now().Add(5 * lease); time.Now().Before(end); {
		x := c.names[ch.rng.IntN(len(c.names))]
		d := time.Duration(300+ch.rng.IntN(2700)) * time.Millisecond
		var what string
		switch ch.rng.IntN(4) {
		case 0:
			what = x + " isolated (" + ch.partition(append(tp.links(x, "*"), tp.links("*", x)...)...) + ")"
		case 1:
			what = x + " cut from the witness (" + ch.partition(tp.links(x, "w")...) + ")"
		case 2:
			o := ch.others(x)
			y := o[ch.rng.IntN(len(o))]
			what = x + " cut from " + y + " (" + ch.partition(append(tp.links(x, y), tp.links(y, x)...)...) + ")"
		default:
			what = x + " killed"
			c.kill(x)
		}
		time.Sleep(d)
		if strings.HasSuffix(what, "killed") {
			c.startRegion(x)
		} else {
			tp.heal()
		}
		done = append(done, fmt.Sprintf("%s for %s", what, d))
		time.Sleep(time.Duration(ch.rng.IntN(1500)) * time.Millisecond)
	}
	ch.t.Logf("flap: %s", strings.Join(done, "; "))
}

// witnessDown cuts every region from the witness for three leases: once
// the lease can no longer be confirmed no region may acknowledge a write;
// writes resume after the heal.
func (ch *chaos) witnessDown() {
	t, c := ch.t, ch.c
	p, _ := c.primary()
	cutAt := ch.now()
	how := ch.partition(ch.tp.links("*", "w")...)
	cutDone := ch.now()
	waitFor(t, 20*time.Second, "the primary refuses writes without its witness", func() (bool, string) { return ch.refuses(p) })
	time.Sleep(3 * lease)
	healAt := ch.now()
	ch.tp.heal()
	ch.checkLeaseBound("witness-down", 0, cutDone, healAt)
	resumeFrom := ch.now()
	waitFor(t, 30*time.Second, "writes resume after the witness is back", func() (bool, string) {
		n, by := ch.ackedSince(resumeFrom)
		return n >= 5, fmt.Sprint(n, by)
	})
	t.Logf("witness-down (%s): cut for %s; writes resumed", how, time.Duration(healAt-cutAt).Round(time.Millisecond))
}

// checkReadYourWrite: a secondary that forwarded write o and answered
// X-Tandem-Read-Your-Writes: ok has applied it, so reading it there right
// away finds it, unless the secondary rejoined another history in between
// (its epoch changed).
func (ch *chaos) checkReadYourWrite(sec string, o opRec) {
	before, err := status(ch.c.urls[sec])
	if err != nil {
		return
	}
	v, err := readNote(ch.c.urls[sec], o.key)
	if err != nil {
		return
	}
	ch.rywRead.Add(1)
	if v == o.value {
		return
	}
	after, err := status(ch.c.urls[sec])
	if err != nil || after.Epoch != before.Epoch || after.Epoch != o.pos.Epoch {
		return
	}
	ch.t.Errorf("read-your-writes: %s forwarded %s (acknowledged at %s) and said it had applied it, but reading it there finds %q (head %s)",
		sec, o.key, o.pos, v, after.Head)
}

// checkLeaseBound asserts invariant 1's second half: the last renewal
// that can have reached the witness was sent before the cut was complete
// (cutDone), so the lease it bought ran out at most one lease_ttl later. A
// write in epoch (0: any epoch) sent after that and acknowledged before
// the heal was written without a valid lease.
func (ch *chaos) checkLeaseBound(fault string, epoch int64, cutDone, healAt int64) {
	bound := cutDone + lease.Nanoseconds()
	bad := 0
	for _, o := range ch.snapshot() {
		if o.put && o.acked && (epoch == 0 || o.pos.Epoch == epoch) && o.call > bound && o.ret < healAt {
			if bad++; bad <= 3 {
				ch.t.Errorf("%s: %s acknowledged %s=%s (epoch %d) sent %s after the witness became unreachable (lease %s)",
					fault, o.region, o.key, o.value, o.pos.Epoch, time.Duration(o.call-cutDone), lease)
			}
		}
	}
	if bad > 0 {
		ch.t.Errorf("%s: %d writes acknowledged without a valid lease", fault, bad)
	}
}

// refuses sends one probe write (a unique key, recorded like the clients'
// writes) straight to region n and reports whether its gate refused it.
func (ch *chaos) refuses(n string) (bool, string) {
	o := opRec{client: chaosClients + len(ch.c.names), put: true, key: fmt.Sprintf("probe-%d", ch.now()), region: n}
	o.value = "v-" + o.key
	o.call = ch.now()
	a, err := ch.c.writeValue(n, o.key, o.value)
	o.ret = ch.now()
	if err == nil {
		o.acked, o.pos = true, a.pos
	} else {
		o.unknown = !notApplied(err)
	}
	ch.record(o)
	if err == nil {
		return false, fmt.Sprintf("%s acknowledged a probe in epoch %d", n, a.pos.Epoch)
	}
	return strings.Contains(err.Error(), "is not accepting writes"), err.Error()
}

// checkpoint pauses the clients, waits until every region holds exactly
// the primary's journal, checks it (positions equal), reads every register
// on every region (all must agree; the reads join the linearizability
// history), and lets the clients go on.
func (ch *chaos) checkpoint(label string) {
	t, c := ch.t, ch.c
	ch.gate.Lock()
	defer ch.gate.Unlock()
	defer func() {
		ch.mu.Lock()
		ch.settled = append(ch.settled, ch.now())
		ch.mu.Unlock()
	}()
	var p string
	waitFor(t, 60*time.Second, label+": all regions converged", func() (bool, string) {
		var pst leader.StatusDoc
		p, pst = c.primary()
		if p == "" {
			return false, "no primary"
		}
		for _, n := range ch.others(p) {
			st, err := status(c.urls[n])
			if err != nil || st.Role.String() != "secondary" || st.Primary != p || st.Epoch != pst.Epoch || st.Head != pst.Head {
				return false, fmt.Sprintf("primary %s e%d head %s; %s: %s following %q e%d head %s %v", p, pst.Epoch, pst.Head, n, st.Role, st.Primary, st.Epoch, st.Head, err)
			}
		}
		return true, ""
	})
	for _, n := range ch.others(p) {
		ch.checkPrefix(p, n)
	}
	for k := range chaosRegisters {
		key := fmt.Sprintf("reg-%d", k)
		vals := map[string]string{}
		for i, n := range c.names {
			o := opRec{client: chaosClients + i, register: true, key: key, region: n, call: ch.now()}
			v, err := readNote(c.urls[n], key)
			o.ret = ch.now()
			if err != nil {
				t.Errorf("%s: read %s on %s: %v", label, key, n, err)
				continue
			}
			o.value = v
			vals[n] = v
			ch.record(o)
		}
		if first := vals[c.names[0]]; len(vals) == len(c.names) {
			for _, v := range vals {
				if v != first {
					t.Errorf("%s: converged regions disagree on %s: %v", label, key, vals)
					break
				}
			}
		}
	}
}

// readNote reads a test note's value; "" when there is none.
func readNote(base, key string) (string, error) {
	resp, err := hc.Get(base + "/api/tandem/v1/test/note?" + url.Values{"kind": {"runs"}, "key": {key}}.Encode())
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return "", nil
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	var out struct {
		Value string `json:"value"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	return out.Value, err
}

func positionsOf(base string) ([]tandem.Position, error) {
	resp, err := hc.Get(base + leader.Prefix + "positions?after=0&limit=100000")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("positions: %s", resp.Status)
	}
	var out struct {
		Positions []tandem.Position `json:"positions"`
	}
	return out.Positions, json.NewDecoder(resp.Body).Decode(&out)
}

// checkPrefix asserts invariant 3 for secondary s of primary p: its
// journal has no hole and every position it holds is the primary's at the
// same seq. It checks only while s follows p in p's epoch (a region that
// is still rejoining may hold a divergent tail it has not reported yet).
func (ch *chaos) checkPrefix(p, s string) {
	t, c := ch.t, ch.c
	st, err := status(c.urls[s])
	if err != nil || st.Role.String() != "secondary" || st.Primary != p {
		return
	}
	sp, err := positionsOf(c.urls[s]) // the secondary first: the primary's read then holds at least as much
	if err != nil {
		return
	}
	pst, err := status(c.urls[p])
	if err != nil || pst.Epoch != st.Epoch {
		return
	}
	st2, err := status(c.urls[s])
	if err != nil || st2.Epoch != st.Epoch || st2.Primary != p || st2.Head.Seq < st.Head.Seq {
		return // it changed while we read: not a stable follower
	}
	pp, err := positionsOf(c.urls[p])
	if err != nil {
		return
	}
	at := map[int64]int64{}
	for _, x := range pp {
		at[x.Seq] = x.Epoch
	}
	for i, x := range sp {
		if i > 0 && x.Seq != sp[i-1].Seq+1 {
			t.Errorf("invariant 3: secondary %s has a hole in its journal after %s (next %s)", s, sp[i-1], x)
			return
		}
		if e, ok := at[x.Seq]; !ok || e != x.Epoch {
			t.Errorf("invariant 3: secondary %s holds %s but primary %s has epoch %d at seq %d (present %v)", s, x, p, e, x.Seq, ok)
			return
		}
	}
}

// divergent returns the test-note writes kept in divergence reports on
// any region, as key -> values.
func (ch *chaos) divergent() map[string]map[string]bool {
	t, c := ch.t, ch.c
	out := map[string]map[string]bool{}
	get := func(u string, v any) error {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Authorization", "Bearer "+replication.Token([]byte(peerKey)))
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s: %s", u, resp.Status)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	for _, n := range c.names {
		var list struct {
			Reports []failover.Report `json:"reports"`
		}
		if err := get(c.urls[n]+leader.Prefix+"divergence", &list); err != nil {
			t.Errorf("divergence reports of %s: %v", n, err)
			continue
		}
		for _, r := range list.Reports {
			var rep failover.Report
			if err := get(c.urls[n]+leader.Prefix+"divergence/"+r.ID, &rep); err != nil {
				t.Errorf("divergence report %s: %v", r.ID, err)
				continue
			}
			t.Logf("divergence report %s on %s: %d entries after %s", rep.ID, n, rep.Count, rep.Fork)
			for _, e := range rep.Entries {
				if !strings.HasPrefix(e.Op, "test.note.") {
					continue
				}
				var note sqlstore.TestNote
				if err := json.Unmarshal(e.Payload, &note); err != nil {
					t.Errorf("divergence report %s: entry %s: %v", rep.ID, e.Position, err)
					continue
				}
				if out[note.Key] == nil {
					out[note.Key] = map[string]bool{}
				}
				out[note.Key][note.Value] = true
			}
		}
	}
	return out
}

// checkHistory runs the checks that need no scan of the regions' data
// over the operations so far: one writer per epoch, epoch order, and
// linearizability of the registers.
func (ch *chaos) checkHistory() {
	ops := ch.snapshot()
	var acks []ack
	for _, o := range ops {
		if o.put && o.acked && !strings.HasPrefix(o.region, "fwd:") { // a forwarded write's writer is the primary
			acks = append(acks, ack{key: o.key, region: o.region, pos: o.pos})
		}
	}
	checkAcks(ch.t, acks)
	checkEpochOrder(ch.t, ops)
	checkLinearizable(ch.t, ops, ch.divergent(), ch.mode == "sync", ch.settledTimes())
}

// check runs the end-of-run checker over every recorded operation.
func (ch *chaos) check() {
	t, c := ch.t, ch.c
	ops := ch.snapshot()
	var acks []ack
	for _, o := range ops {
		if o.put && o.acked && !strings.HasPrefix(o.region, "fwd:") { // a forwarded write's writer is the primary
			acks = append(acks, ack{key: o.key, region: o.region, pos: o.pos})
		}
	}
	t.Logf("%d operations, %d acknowledged writes (not counting forwarded ones), %d forwarded writes read back on their secondary, %d failovers under latency",
		len(ops), len(acks), ch.rywRead.Load(), ch.spurious)
	// Invariant 1: one region per epoch.
	checkAcks(t, acks)
	// Invariant 1, in time: no write of an older epoch is acknowledged
	// when it certainly committed after a write of a newer epoch did.
	checkEpochOrder(t, ops)

	final, _ := c.primary()
	if final == "" {
		t.Fatal("no primary at the end")
	}
	div := ch.divergent()
	// Invariant 2: sync: every acknowledged write is in the new history;
	// async: in it or in a divergence report, never both.
	missing, reported := 0, 0
	// What the reports hold, by the clients' view of each write.
	outcome := map[string]int{}
	byKV := map[[2]string]opRec{}
	for _, o := range ops {
		if o.put {
			byKV[[2]string{o.key, o.value}] = o
		}
	}
	for k, vs := range div {
		for v := range vs {
			o, ok := byKV[[2]string{k, v}]
			switch {
			case !ok:
				outcome["never sent"]++
				t.Errorf("divergence report holds %s=%s, which no client wrote", k, v)
			case o.acked:
				outcome["acknowledged"]++
			case o.unknown:
				outcome["outcome unknown"]++
			default:
				outcome["refused"]++
				t.Errorf("a write the client was told was refused (%s=%s on %s) is in a divergence report", k, v, o.region)
			}
		}
	}
	t.Logf("divergence reports hold, by what the clients saw: %v", outcome)
	for _, o := range ops {
		if o.put && !o.acked && !o.unknown && !o.register && c.hasNote(final, o.key) {
			t.Errorf("a write the client was told was refused (%s on %s) is in the history of %s", o.key, o.region, final)
		}
		if !o.put || !o.acked {
			continue
		}
		inReport := div[o.key][o.value]
		if ch.mode == "sync" && inReport {
			t.Errorf("sync: acknowledged write %s=%s (%s, %s) is in a divergence report", o.key, o.value, o.region, o.pos)
		}
		if o.register {
			continue // overwritten: covered by the linearizability check
		}
		inNew := c.hasNote(final, o.key)
		switch {
		case inNew && inReport:
			t.Errorf("acknowledged write %s is both in the new history and in a divergence report", o.key)
		case inReport:
			reported++
			if ch.mode == "sync" {
				missing++
			}
		case !inNew:
			missing++
			if missing < 5 {
				t.Errorf("acknowledged write %s (region %s, %s) is in neither the history of %s nor a divergence report", o.key, o.region, o.pos, final)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%s: %d acknowledged writes lost", ch.mode, missing)
	}
	t.Logf("%s: acknowledged writes in a divergence report: %d", ch.mode, reported)

	// Convergence: verify passes.
	waitFor(t, 60*time.Second, "tandem verify to pass", func() (bool, string) {
		out, err := c.cli("verify", "--workspace", c.config)
		return err == nil, out
	})
	checkLinearizable(t, ops, div, ch.mode == "sync", ch.settledTimes())
}

// checkEpochOrder fails t with epochOrderProblems.
func checkEpochOrder(t *testing.T, ops []opRec) {
	t.Helper()
	for _, p := range epochOrderProblems(ops) {
		t.Error(p)
	}
}

// epochOrderProblems: for acknowledged writes w in epoch e and w' in a
// newer epoch, w sent after w' returned means the old primary committed
// after the new one had: two writers at once (invariant 1).
func epochOrderProblems(ops []opRec) []string {
	maxCall := map[int64]opRec{}
	minRet := map[int64]opRec{}
	var epochs []int64
	for _, o := range ops {
		if !o.put || !o.acked {
			continue
		}
		e := o.pos.Epoch
		if _, ok := maxCall[e]; !ok {
			epochs = append(epochs, e)
			maxCall[e], minRet[e] = o, o
		}
		if o.call > maxCall[e].call {
			maxCall[e] = o
		}
		if o.ret < minRet[e].ret {
			minRet[e] = o
		}
	}
	sort.Slice(epochs, func(i, j int) bool { return epochs[i] < epochs[j] })
	var out []string
	for i, e := range epochs {
		for _, e2 := range epochs[i+1:] {
			if w, w2 := maxCall[e], minRet[e2]; w.call > w2.ret {
				out = append(out, fmt.Sprintf("invariant 1: %s acknowledged %s in epoch %d, sent %s after %s had acknowledged %s in epoch %d",
					w.region, w.key, e, time.Duration(w.call-w2.ret), w2.region, w2.key, e2))
			}
		}
	}
	return out
}

// Linearizability of the registers (reg-N): puts by the clients (acked,
// or failed in a way that may have committed: those may take effect at
// any time after their call), reads at every checkpoint. Puts kept in a
// divergence report were undone and reported; they are left out.
type regInput struct {
	put   bool
	key   string
	value string
}

var registerModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, o := range h {
			k := o.Input.(regInput).key
			if by[k] == nil {
				keys = append(keys, k)
			}
			by[k] = append(by[k], o)
		}
		sort.Strings(keys)
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(regInput)
		if in.put {
			return true, in.value
		}
		return output.(string) == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(regInput)
		if in.put {
			return fmt.Sprintf("put(%s, %q)", in.key, in.value)
		}
		return fmt.Sprintf("get(%s) -> %q", in.key, output)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state) },
}

// registerHistory turns the recorded register operations into a porcupine
// history: puts kept in a divergence report (div: key -> values; in sync
// mode only those never acknowledged, an acknowledged one must survive)
// and puts that certainly did not commit are left out; a put whose outcome
// is unknown stays pending until the second checkpoint after it failed
// (settled: the times checkpoints finished, in order; every region had
// converged and every client had paused there, so a write its client gave
// up on has committed by then or never will), or to the end.
func registerHistory(ops []opRec, div map[string]map[string]bool, sync bool, settled []int64) []porcupine.Operation {
	var end int64
	for _, o := range ops {
		end = max(end, o.ret)
	}
	var h []porcupine.Operation
	for _, o := range ops {
		if !o.register {
			continue
		}
		if o.put && ((div[o.key][o.value] && !(sync && o.acked)) || (!o.acked && !o.unknown)) {
			continue
		}
		ret := o.ret
		if o.put && !o.acked {
			ret = end + int64(time.Hour)
			if i := sort.Search(len(settled), func(i int) bool { return settled[i] > o.ret }); i+1 < len(settled) {
				ret = settled[i+1]
			}
		}
		h = append(h, porcupine.Operation{ClientId: o.client, Input: regInput{put: o.put, key: o.key, value: o.value},
			Call: o.call, Output: o.value, Return: ret})
	}
	return h
}

// checkLinearizable checks the register history with porcupine; when it
// is not linearizable it writes the visualization and prints its path.
func checkLinearizable(t *testing.T, ops []opRec, div map[string]map[string]bool, sync bool, settled []int64) {
	t.Helper()
	h := registerHistory(ops, div, sync, settled)
	began := time.Now()
	res, info := porcupine.CheckOperationsVerbose(registerModel, h, 60*time.Second)
	switch res {
	case porcupine.Ok:
		t.Logf("linearizability: %d register operations: ok (checked in %s)", len(h), time.Since(began).Round(time.Millisecond))
	case porcupine.Unknown:
		t.Logf("linearizability: %d register operations: the check timed out (not a failure)", len(h))
	default:
		f, err := os.CreateTemp("", "tandem-chaos-porcupine-*.html")
		if err == nil {
			f.Close()
			err = porcupine.VisualizePath(registerModel, info, f.Name())
		}
		path := "(visualization not written: " + fmt.Sprint(err) + ")"
		if err == nil {
			path = f.Name()
		}
		t.Errorf("linearizability: the register history (%d operations) is not linearizable; visualization: %s", len(h), path)
	}
}

// TestChaosSyncDoubleFault: sync durability under a double fault. Region b
// is cut from the primary a and from c (it reaches only the witness), so
// only c acknowledges a's writes; then a is cut off too. b and c both see
// the lease expire and cannot see each other. Whichever takes over, no
// write acknowledged in sync mode may be lost (invariant 2): if b wins, it
// lacks what only c acknowledged.
//
// Before the lease named a sync standby, b won the race for the lease in
// about one run in three, promoted hundreds of entries behind, and every
// write only c acknowledged ended in a divergence report. Now the lease
// names the standby whose acknowledgement counted (c, once b fell
// behind), and only it may take the lease automatically: b never does.
func TestChaosSyncDoubleFault(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TANDEM_CHAOS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	tp := startToxiproxy(t)
	c := newChaosCluster(t, tp, "{mode: sync, timeout: 3s, on_no_ack: fail}", "a", "b", "c")
	ch := &chaos{t: t, mode: "sync", c: c, tp: tp, rng: rand.New(rand.NewPCG(seed, 0)), start: time.Now()}
	keepLogsOnFailure(t, c, seed)
	ch.bootstrap()
	ch.runClients()
	before := ch.now()
	waitFor(t, 20*time.Second, "writes", func() (bool, string) { n, _ := ch.ackedSince(before); return n >= 20, fmt.Sprint(n) })
	tp.cut(append(append(tp.links("b", "a"), tp.links("a", "b")...), append(tp.links("b", "c"), tp.links("c", "b")...)...)...)
	time.Sleep(lease)
	_, ast := c.primary()
	bst, _ := status(c.urls["b"])
	cst, _ := status(c.urls["c"])
	t.Logf("b cut from a and c: heads a %s, b %s, c %s", ast.Head, bst.Head, cst.Head)
	cutAt := ch.now()
	tp.cut(tp.links("a", "c")...)
	tp.cut(tp.links("c", "a")...)
	tp.cut(tp.links("a", "w")...)
	var newP string
	waitFor(t, 30*time.Second, "a region primary in a newer epoch", func() (bool, string) {
		for _, n := range []string{"b", "c"} {
			if st, err := status(c.urls[n]); err == nil && st.Role.String() == "primary" && st.Epoch > ast.Epoch {
				newP = n
				return true, ""
			}
		}
		return false, ""
	})
	t.Logf("a cut off too; %s took over after %s", newP, time.Duration(ch.now()-cutAt).Round(time.Millisecond))
	if newP != "c" {
		t.Errorf("%s took over; only c (the sync standby, which acknowledged a's writes) may", newP)
	}
	time.Sleep(lease)
	time.Sleep(lease / 2)
	tp.heal()
	ch.checkpoint("after the heal")
	ch.haltClients()
	ch.checkpoint("end")
	ch.check()
}
