// Package failover decides who is primary: when a region takes the lease
// and becomes primary, when it must stop accepting writes, when it follows
// another region, how a switchover proceeds. Machine is that decision, a
// deterministic state machine with no I/O, in the style of etcd's raft: the
// caller feeds it events (clock ticks, witness replies, peer status,
// operator commands), each stamped with a reading of a monotonic clock, and
// collects a Ready value (actions to perform and the current role, epoch and
// write permission). Roles are the root's tandem.Role (RolePrimary,
// RoleSecondary, and RoleCandidate while a lease request is unanswered).
// Node runs a Machine against a real tandem.Witness and clock, and is the
// tandem.Gate the store asks before every write commit; package leader
// starts a Node in a running region and carries out its actions.
// FindDivergence and Report (pure too) handle a rejoining region's
// divergent tail.
//
// # Safety
//
// Invariant 1 (at most one region accepts writes per epoch, and never after
// its lease can no longer be confirmed) rests on three rules:
//
//   - a holder counts its lease from the moment it sent the request that
//     granted or renewed it, and stops accepting writes Margin before that
//     lease could expire, on its own monotonic clock (CLOCK_BOOTTIME on
//     Linux, which keeps counting while the machine is suspended); the gate
//     reads the clock itself at every write, so a process paused past its
//     lease refuses writes the moment it wakes;
//   - the witness never lets a lease change hands before it has expired on
//     the witness's own clock, and every takeover raises the epoch
//     (tandem.Witness), so exactly one of several racing secondaries wins;
//   - every input carrying an epoch older than the newest seen is rejected.
//
// A clock reading older than the previous one (a broken clock) voids the
// lease confirmation: writes stop until a renewal sent after it succeeds.
// A witness that lost its state (it answers with an epoch older than one
// seen) is fenced: a region puts up a lease held by FenceHolder in the
// newest known epoch, which nobody can renew and which runs out on the
// witness's own clock after any lease granted before the loss; then the
// last primary (or, automatically, the best candidate) takes the next
// epoch.
// Margin must cover clock rate drift over one lease and the time from the
// store's last gate check to the end of its COMMIT.
//
// Invariant 2 (sync durability: no acknowledged write lost by a failover)
// rests on the sync standby the lease names (Config.Sync,
// tandem.Lease.Sync): the primary acknowledges a write only when every
// region the witness may name as standby has applied it (SyncView); it
// names a new standby through its renewal (ProposeSync) only once that
// region holds the whole journal, and the old one keeps counting until
// the witness confirmed the change; and an expired lease that names a
// standby is taken over automatically by that region only (a takeover
// names the new holder itself until it has a standby). Forced promotions
// ignore it and report what may be lost.
//
// # Wiring a region (what region/ and replication/ call, and when)
//
// Start:
//
//	key, _ := witness.LoadKey(keyFile)                       // or "" for etcd
//	w, _ := witness.Open(ctx, ws.WitnessURL, witness.Options{Name: ws.Name, Key: key})
//	node, _ := failover.NewNode(cfg, highestEpochSeen, store.Head(), w, handler, failover.NodeOptions{Logger: log})
//	store.SetGate(node)
//	go node.Run(ctx)
//
// cfg comes from workspace.yaml: Self, Regions (priority order), Initial
// (the region that takes the very first lease), Mode, LeaseTTL,
// MaxLagOnFailover, Cooldown; NoWitness when no witness is named (then only
// forced promotion exists and status says so: Status.Witness is false).
// highestEpochSeen is the largest epoch the region has persisted (at least
// its journal head's).
//
// Feed it:
//
//   - Node.Local(head) after every commit and every applied batch
//     (store.OnCommit);
//   - Node.Peer(PeerStatus) for every other region about once a second,
//     from its status endpoint (Healthy: it answered; Position: its journal
//     head; Role and Epoch as it reports them);
//   - Node.Fenced(epoch, primary) with the sender's CURRENT epoch (not an
//     entry's) on every replication request and reply and every forwarded
//     write; when it returns false, refuse that input with EUNAVAILABLE;
//   - with sync durability, the primary's replication reads
//     Node.SyncView before acknowledging a write and calls
//     Node.ProposeSync to name a caught-up secondary (see
//     replication.SyncStandby);
//   - operator commands: on the primary Node.Switchover(target, force); on
//     the target of a forced promotion Node.Switchover(self, true); after a
//     release, tell the target to call Node.Poke so it takes the lease at
//     once.
//
// Perform the Handler actions (Node calls Act in order, from one goroutine):
//
//   - StopWrites: the gate is already closed; nothing is required.
//   - StartWrites{Epoch, Previous, DetectedTime, AtRisk}: stop the
//     replication applier and return; the gate opens only when Act returns.
//     Then (from another goroutine) commit a first entry of the new epoch
//     recording the failover (for `tandem history`), and persist Epoch.
//   - Follow{Target, Epoch}: persist Epoch; compare the local journal with
//     Target's positions (FindDivergence); if there is a tail, store
//     NewReport(...) and rewind to the fork; then replicate from Target.
//   - CatchUp{Target}: read the journal head under the journal lock (so
//     every write that passed the gate before it closed is counted), wait
//     until Target has applied it, then call Node.CaughtUp(Target).
//
// Report Node.Status in the region's status endpoint (top-level "role",
// "epoch", "writes_allowed", as the gateway reads them) and set the
// X-Tandem-Role and X-Tandem-Epoch headers on every response. The gate's
// EUNAVAILABLE error carries Detail["primary"] for forwarding.
package failover
