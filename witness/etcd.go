package witness

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Etcd keeps a workspace's lease in an etcd cluster, under two keys:
//
//	<prefix>/<name>/state  {"holder","epoch","next","ttl_ms"}, no etcd lease: the
//	                       last holder and epoch, kept forever (epochs never go back)
//	<prefix>/<name>/live   the epoch, attached to an etcd lease of the asked TTL:
//	                       it exists exactly while the lease is unexpired
//
// The lease's Rev is the state key's etcd mod revision: every
// compare-and-swap rewrites that key, so it grows with each one and
// survives etcd restarts.
//
// etcd measures the TTL on its leader's clock (and only ever extends it on
// a leader change). A compare-and-swap reads both keys, checks the rules of
// tandem.Witness (CheckSwap), then commits in one transaction guarded by
// both keys' revisions, so a concurrent change or an expiry in between makes
// it fail as a conflict.
type Etcd struct {
	cli   *clientv3.Client
	state string
	live  string
}

// EtcdOptions configure NewEtcd.
type EtcdOptions struct {
	Endpoints   []string // host:port or http://host:port
	Prefix      string   // key prefix, default "/tandem"
	Name        string   // lease name (the workspace)
	Username    string
	Password    string // never logged
	DialTimeout time.Duration
}

// NewEtcd connects to etcd. EINVALID for bad options, EUNAVAILABLE when etcd
// cannot be reached within DialTimeout (default 5s).
func NewEtcd(ctx context.Context, o EtcdOptions) (*Etcd, error) {
	if len(o.Endpoints) == 0 {
		return nil, tandem.Errorf(tandem.EINVALID, "witness: no etcd endpoints")
	}
	if !leaseName.MatchString(o.Name) {
		return nil, tandem.Errorf(tandem.EINVALID, "witness: bad lease name %q", o.Name)
	}
	if o.Prefix == "" {
		o.Prefix = "/tandem"
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: o.Endpoints, DialTimeout: o.DialTimeout, Context: ctx,
		Username: o.Username, Password: o.Password, Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "witness: etcd %v: %v", o.Endpoints, err)
	}
	base := strings.TrimSuffix(o.Prefix, "/") + "/" + o.Name + "/"
	return &Etcd{cli: cli, state: base + "state", live: base + "live"}, nil
}

type etcdView struct {
	cur      tandem.Lease
	stateRev int64 // mod revision of the state key, 0 if absent
	liveRev  int64 // mod revision of the live key, 0 if absent (expired)
	leaseID  clientv3.LeaseID
}

func (e *Etcd) read(ctx context.Context) (etcdView, error) {
	var v etcdView
	resp, err := e.cli.Txn(ctx).Then(clientv3.OpGet(e.state), clientv3.OpGet(e.live)).Commit()
	if err != nil {
		return v, tandem.Errorf(tandem.EUNAVAILABLE, "witness: etcd read: %v", err)
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
		var st wireLease
		if err := json.Unmarshal(kvs[0].Value, &st); err != nil {
			return v, fmt.Errorf("witness: etcd state key %s is corrupt: %w", e.state, err)
		}
		v.cur = tandem.Lease{Holder: st.Holder, Epoch: st.Epoch, Next: st.Next, Sync: st.Sync, Rev: kvs[0].ModRevision}
		v.stateRev = kvs[0].ModRevision
	}
	if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) == 1 {
		v.liveRev = kvs[0].ModRevision
		v.leaseID = clientv3.LeaseID(kvs[0].Lease)
		v.cur.TTL = time.Millisecond // unexpired; Get asks etcd how long is left
	}
	return v, nil
}

// Get implements tandem.Witness.
func (e *Etcd) Get(ctx context.Context) (tandem.Lease, error) {
	v, err := e.read(ctx)
	if err != nil || v.liveRev == 0 {
		return v.cur, err
	}
	ttl, err := e.cli.TimeToLive(ctx, v.leaseID)
	if err != nil {
		return tandem.Lease{}, tandem.Errorf(tandem.EUNAVAILABLE, "witness: etcd lease ttl: %v", err)
	}
	if ttl.TTL > 0 {
		v.cur.TTL = time.Duration(ttl.TTL) * time.Second
	} else if ttl.TTL < 0 {
		v.cur.TTL = 0 // expired since the read
	}
	return v.cur, nil
}

// CompareAndSwap implements tandem.Witness.
func (e *Etcd) CompareAndSwap(ctx context.Context, prev, next tandem.Lease) (tandem.Lease, error) {
	v, err := e.read(ctx)
	if err != nil {
		return tandem.Lease{}, err
	}
	if err := CheckSwap(v.cur, prev, next); err != nil {
		return v.cur, err
	}
	stateVal, _ := json.Marshal(toWire(tandem.Lease{Holder: next.Holder, Epoch: next.Epoch, Next: next.Next, Sync: next.Sync, TTL: next.TTL}))
	ops := []clientv3.Op{clientv3.OpPut(e.state, string(stateVal))}
	var granted clientv3.LeaseID
	if next.TTL > 0 {
		secs := int64((next.TTL + time.Second - 1) / time.Second) // etcd counts whole seconds: round up
		g, err := e.cli.Grant(ctx, secs)
		if err != nil {
			return tandem.Lease{}, tandem.Errorf(tandem.EUNAVAILABLE, "witness: etcd grant: %v", err)
		}
		granted = g.ID
		ops = append(ops, clientv3.OpPut(e.live, strconv.FormatInt(next.Epoch, 10), clientv3.WithLease(granted)))
	} else {
		ops = append(ops, clientv3.OpDelete(e.live))
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(e.state), "=", v.stateRev),
		clientv3.Compare(clientv3.ModRevision(e.live), "=", v.liveRev)}
	resp, err := e.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		// Outcome unknown: the granted lease, if unused, expires by itself.
		return tandem.Lease{}, tandem.Errorf(tandem.EUNAVAILABLE, "witness: etcd txn: %v", err)
	}
	if !resp.Succeeded {
		if granted != 0 {
			e.cli.Revoke(context.WithoutCancel(ctx), granted)
		}
		cur, rerr := e.read(ctx)
		if rerr != nil {
			return tandem.Lease{}, rerr
		}
		return cur.cur, tandem.Errorf(tandem.ECONFLICT, "witness: lease changed concurrently (now %s)", cur.cur)
	}
	if v.leaseID != 0 && v.leaseID != granted {
		// The live key moved to the new etcd lease; the old one holds nothing.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		e.cli.Revoke(rctx, v.leaseID)
		cancel()
	}
	// The transaction wrote the state key: its new mod revision is the
	// transaction's revision.
	return tandem.Lease{Holder: next.Holder, Epoch: next.Epoch, Next: next.Next, Sync: next.Sync, TTL: next.TTL, Rev: resp.Header.Revision}, nil
}

// Close implements tandem.Witness.
func (e *Etcd) Close() error { return e.cli.Close() }
