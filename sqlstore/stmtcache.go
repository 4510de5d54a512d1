package sqlstore

import (
	"container/list"
	"context"
	"database/sql"
	"sync"
)

// stmtCacheSize bounds the prepared read statements a Store keeps.
const stmtCacheSize = 256

// stmtCache keeps the SQLite read statements the Reader ran most recently
// prepared, by their text: SQLite parses and plans a statement at every
// prepare, a good part of a small read's cost. (pgx caches its own
// statements per connection.) The least recently used one is closed when
// the cache is full; database/sql closes it once the reads still using it
// are done.
type stmtCache struct {
	mu    sync.Mutex
	byKey map[string]*list.Element // of *cachedStmt
	lru   list.List                // front: most recently used
}

type cachedStmt struct {
	query string
	stmt  *sql.Stmt
}

// get returns the prepared statement of query on db, preparing it on the
// first use.
func (c *stmtCache) get(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	if e, ok := c.byKey[query]; ok {
		c.lru.MoveToFront(e)
		st := e.Value.(*cachedStmt).stmt
		c.mu.Unlock()
		return st, nil
	}
	c.mu.Unlock()
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[query]; ok { // prepared meanwhile by another read
		st.Close()
		c.lru.MoveToFront(e)
		return e.Value.(*cachedStmt).stmt, nil
	}
	if c.byKey == nil {
		c.byKey = map[string]*list.Element{}
	}
	c.byKey[query] = c.lru.PushFront(&cachedStmt{query: query, stmt: st})
	for c.lru.Len() > stmtCacheSize {
		old := c.lru.Remove(c.lru.Back()).(*cachedStmt)
		delete(c.byKey, old.query)
		old.stmt.Close()
	}
	return st, nil
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
