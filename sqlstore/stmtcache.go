package sqlstore

import (
	"container/list"
	"context"
	"database/sql"
	"sync"
)

// stmtCacheSize bounds the prepared statements a Store keeps.
const stmtCacheSize = 256

// stmtCache keeps the SQLite statements the Reader and write transactions
// ran most recently prepared on db, by their text: SQLite parses and plans
// a statement at every prepare, a good part of a small query's cost. (pgx
// caches its own statements per connection.) When the cache is full the least recently
// used one leaves it, and is closed once no caller between get and
// release still holds it (database/sql itself keeps a closed statement
// open for the rows read from it).
type stmtCache struct {
	db    *sql.DB
	mu    sync.Mutex
	byKey map[string]*list.Element // of *cachedStmt
	lru   list.List                // front: most recently used
}

type cachedStmt struct {
	query   string
	stmt    *sql.Stmt
	users   int  // callers between get and release (under mu)
	evicted bool // out of the cache: closed by the last release
}

// get returns the prepared statement of query, preparing it on the first
// use; the caller releases it once its query has returned.
func (c *stmtCache) get(ctx context.Context, query string) (*cachedStmt, error) {
	c.mu.Lock()
	if e, ok := c.byKey[query]; ok {
		c.lru.MoveToFront(e)
		cs := e.Value.(*cachedStmt)
		cs.users++
		c.mu.Unlock()
		return cs, nil
	}
	c.mu.Unlock()
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[query]; ok { // prepared meanwhile by another read
		st.Close()
		c.lru.MoveToFront(e)
		cs := e.Value.(*cachedStmt)
		cs.users++
		return cs, nil
	}
	if c.byKey == nil {
		c.byKey = map[string]*list.Element{}
	}
	cs := &cachedStmt{query: query, stmt: st, users: 1}
	c.byKey[query] = c.lru.PushFront(cs)
	for c.lru.Len() > stmtCacheSize {
		old := c.lru.Remove(c.lru.Back()).(*cachedStmt)
		delete(c.byKey, old.query)
		old.evicted = true
		if old.users == 0 {
			old.stmt.Close()
		}
	}
	return cs, nil
}

// release ends a caller's use of cs.
func (c *stmtCache) release(cs *cachedStmt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs.users--; cs.users == 0 && cs.evicted {
		cs.stmt.Close()
	}
}

// close closes every statement (the Store is closing).
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.lru.Front(); e != nil; e = e.Next() {
		e.Value.(*cachedStmt).stmt.Close()
	}
	c.byKey = nil
	c.lru.Init()
}
