package keylock

import (
	"sync"
	"testing"
)

// Holders of one key run one at a time; other keys do not wait; nothing
// is kept once released.
func TestLocks(t *testing.T) {
	var l Locks
	var wg sync.WaitGroup
	counts := map[string]int{}
	inside := map[string]int{}
	var mu sync.Mutex
	for i := range 200 {
		key := []string{"a", "b"}[i%2]
		wg.Go(func() {
			defer l.Lock(key)()
			mu.Lock()
			inside[key]++
			if inside[key] != 1 {
				t.Errorf("%d holders of %s", inside[key], key)
			}
			mu.Unlock()
			mu.Lock()
			counts[key]++
			inside[key]--
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts["a"] != 100 || counts["b"] != 100 || len(l.m) != 0 {
		t.Fatalf("counts %v, %d keys left", counts, len(l.m))
	}
	unlockA := l.Lock("a")
	done := make(chan struct{})
	go func() { l.Lock("b")(); close(done) }()
	<-done // b is not held up by a
	unlockA()
}
