package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/failover"
	"github.com/tandemml/tandem/leader"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/workspace"
)

// fakeRegion serves a region's status documents and records the
// Authorization header of every request.
type fakeRegion struct {
	name, primary string
	role          tandem.Role
	writes        bool
	hang          chan struct{} // non-nil: every request waits until it closes or its caller gives up

	mu    sync.Mutex
	auths []string
}

func (f *fakeRegion) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.auths = append(f.auths, r.Header.Get("Authorization"))
	f.mu.Unlock()
	if f.hang != nil {
		select {
		case <-f.hang:
		case <-r.Context().Done():
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case replication.Prefix + "status":
		json.NewEncoder(w).Encode(replication.Status{Region: f.name})
	case leader.Prefix + "status":
		json.NewEncoder(w).Encode(leader.StatusDoc{Status: failover.Status{Region: f.name, Role: f.role, Primary: f.primary, WritesAllowed: f.writes, Epoch: 3}})
	case leader.Prefix + "switchover":
		w.WriteHeader(503)
		w.Write([]byte(`{"error_code":"TEMPORARILY_UNAVAILABLE","message":"region is busy"}`))
	default:
		w.WriteHeader(404)
		w.Write([]byte(`{"error_code":"not_found","message":"no such thing"}`))
	}
}

func serve(t *testing.T, f *fakeRegion) string {
	s := httptest.NewServer(f)
	t.Cleanup(func() {
		if f.hang != nil {
			close(f.hang)
		}
		s.Close()
	})
	return s.URL
}

// A region that does not answer (as a paused process) is reported
// unreachable within StatusTimeout; the others' rows are read meanwhile.
func TestStatusesPausedRegion(t *testing.T) {
	paused := &fakeRegion{name: "east", hang: make(chan struct{})}
	west := &fakeRegion{name: "west", primary: "west", role: tandem.RolePrimary, writes: true}
	r := RegionsFromURLs([]string{serve(t, paused), serve(t, west) + "/"})
	sts := r.Statuses(t.Context())
	if len(sts) != 2 {
		t.Fatalf("%d rows", len(sts))
	}
	if sts[0].Replication != nil || !strings.Contains(sts[0].Error, "did not answer in time") {
		t.Fatalf("paused region: %+v", sts[0])
	}
	if sts[1].Replication == nil || sts[1].Name != "west" || sts[1].Failover == nil || sts[1].Failover.Region != "west" {
		t.Fatalf("answering region: %+v", sts[1])
	}
	if p := PrimaryOf(sts); p == nil || p.Name != "west" {
		t.Fatalf("primary: %+v", p)
	}
}

func writeWorkspace(t *testing.T, dir string, urls ...string) string {
	t.Helper()
	os.WriteFile(filepath.Join(dir, "peer.key"), []byte("0123456789abcdef0123456789abcdef\n"), 0o600)
	body := "workspace: t\nprimary: east\npeer_key: {file: peer.key}\nregions:\n"
	for i, n := range []string{"east", "west"}[:len(urls)] {
		body += "  - name: " + n + "\n    url: " + urls[i] + "\n    metadata: sqlite://" + filepath.Join(dir, n+".db") + "\n    artifacts: file://" + filepath.Join(dir, n) + "\n"
	}
	p := filepath.Join(dir, "workspace.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every request of a workspace's Regions carries the peer key's token;
// an error answer keeps its meaning and names the region.
func TestRegionsAuthorizeAndMapErrors(t *testing.T) {
	east := &fakeRegion{name: "east", primary: "east", role: tandem.RolePrimary, writes: true}
	west := &fakeRegion{name: "west", primary: "east", role: tandem.RoleSecondary}
	p := writeWorkspace(t, t.TempDir(), serve(t, east), serve(t, west))
	ws, err := workspace.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ws.Key()
	r, err := RegionsFromWorkspace(ws)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Failover(t.Context(), FailoverOptions{To: "west", Wait: time.Second})
	if tandem.ErrorCode(err) != tandem.EUNAVAILABLE || tandem.ErrorMessage(err) != "east: region is busy" {
		t.Fatalf("switchover refused: %v", err)
	}
	var v any
	if err := r.Call(t.Context(), "GET", r.List[1].URL+"/nothing", nil, &v); tandem.ErrorCode(err) != tandem.ENOTFOUND || tandem.ErrorMessage(err) != "no such thing" {
		t.Fatalf("404: %v", err)
	}
	east.mu.Lock()
	defer east.mu.Unlock()
	if len(east.auths) == 0 {
		t.Fatal("no request reached east")
	}
	for _, a := range east.auths {
		if a != "Bearer "+replication.Token(key) {
			t.Fatalf("request without the peer token: %q", a)
		}
	}
}

// The retry rule: the next URL only while a region gives no answer.
func TestSendAnyMovesOnOnlyWhenUnreachable(t *testing.T) {
	ok := serve(t, &fakeRegion{name: "b"})
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	s := &sender{timeout: time.Second}
	resp, i, err := s.sendAny(t.Context(), "GET", []string{dead.URL + replication.Prefix + "status", ok + replication.Prefix + "status"}, nil)
	if err != nil || i != 1 {
		t.Fatalf("unreachable first: %d %v", i, err)
	}
	resp.Body.Close()
	_, i, err = s.sendAny(t.Context(), "GET", []string{ok + "/missing", dead.URL}, nil)
	if i != 0 || tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("an error answer ends the search: %d %v", i, err)
	}
	_, _, err = s.sendAny(t.Context(), "GET", []string{dead.URL}, nil)
	if tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
		t.Fatalf("none reachable: %v", err)
	}
}

func doc(region, primary string, role tandem.Role, writes bool) RegionStatus {
	return RegionStatus{Region: Region{Name: region}, Failover: &leader.StatusDoc{Status: failover.Status{Region: region, Primary: primary, Role: role, WritesAllowed: writes}}}
}

// The primary tandem up announces is whichever the regions agree on, once
// it accepts writes.
func TestAgreedPrimary(t *testing.T) {
	P, S := tandem.RolePrimary, tandem.RoleSecondary
	for _, c := range []struct {
		name string
		sts  []RegionStatus
		want string
	}{
		{"the file's primary", []RegionStatus{doc("east", "east", P, true), doc("west", "east", S, false)}, "east"},
		{"after a switchover", []RegionStatus{doc("east", "west", S, false), doc("west", "west", P, true)}, "west"},
		{"not yet writing", []RegionStatus{doc("east", "west", S, false), doc("west", "west", P, false)}, ""},
		{"disagree", []RegionStatus{doc("east", "east", P, true), doc("west", "west", P, true)}, ""},
		{"one unknown", []RegionStatus{doc("east", "", S, false), doc("west", "west", P, true)}, ""},
		{"one unreachable", []RegionStatus{{Region: Region{Name: "east"}, Error: "down"}, doc("west", "west", P, true)}, ""},
	} {
		if got := agreedPrimary(c.sts); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestWaitElectedAcceptsTheCurrentPrimary(t *testing.T) {
	east := &fakeRegion{name: "east", primary: "west", role: tandem.RoleSecondary}
	west := &fakeRegion{name: "west", primary: "west", role: tandem.RolePrimary, writes: true}
	r, err := RegionsFromWorkspace(mustLoad(t, writeWorkspace(t, t.TempDir(), serve(t, east), serve(t, west))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if p, err := r.WaitElected(ctx, 20*time.Second); err != nil || p != "west" {
		t.Fatalf("WaitElected = %q, %v", p, err)
	}
}

func mustLoad(t *testing.T, p string) *workspace.Workspace {
	t.Helper()
	ws, err := workspace.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// FuzzAnswerError: any error answer becomes a *tandem.Error with one of
// tandem's codes and a message.
func FuzzAnswerError(f *testing.F) {
	f.Add(400, []byte(`{"error_code":"invalid","message":"bad"}`))
	f.Add(503, []byte(`{"error_code":"TEMPORARILY_UNAVAILABLE","message":"later"}`))
	f.Add(502, []byte("<html>bad gateway</html>"))
	f.Add(404, []byte(""))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 300 || status > 599 {
			return
		}
		rec := httptest.NewRecorder()
		rec.WriteHeader(status)
		rec.Write(body)
		err := answerError(rec.Result())
		var te *tandem.Error
		if !errors.As(err, &te) || !tandemCode(te.Code) || te.Message == "" {
			t.Fatalf("%d %q: %#v", status, body, err)
		}
	})
}
