// Package keylock serializes work on the same key within one process: a
// mutex per key, kept only while someone holds or waits for it.
package keylock

import "sync"

// Locks is a set of per-key mutexes. The zero value is ready to use.
type Locks struct {
	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	mu sync.Mutex
	n  int // holders and waiters
}

// Lock takes the lock of key and returns its release.
func (l *Locks) Lock(key string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*entry{}
	}
	e := l.m[key]
	if e == nil {
		e = &entry{}
		l.m[key] = e
	}
	e.n++
	l.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		l.mu.Lock()
		if e.n--; e.n == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
}
