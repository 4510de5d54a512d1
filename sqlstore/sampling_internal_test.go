package sqlstore

import (
	"database/sql"
	"fmt"
	"reflect"
	"testing"

	_ "modernc.org/sqlite"
)

// TestSampledIndicesAreNTILE: the points kept are the first of each
// bucket SQL's NTILE(n) makes (asked of SQLite itself), plus the last
// point in place of the last sampled one.
func TestSampledIndicesAreNTILE(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for total := 0; total <= 40; total++ {
		for n := 1; n <= 12; n++ {
			rows, err := db.Query(fmt.Sprintf(`WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < %d),
				b AS (SELECT i, NTILE(%d) OVER (ORDER BY i) AS bucket FROM s WHERE %d > 0)
				SELECT MIN(i) FROM b GROUP BY bucket ORDER BY 1`, total, n, total))
			if err != nil {
				t.Fatal(err)
			}
			want := []int{}
			for rows.Next() {
				var i int
				rows.Scan(&i)
				want = append(want, i)
			}
			rows.Close()
			if len(want) > 0 && want[len(want)-1] != total-1 {
				if len(want) >= n {
					want[len(want)-1] = total - 1
				} else {
					want = append(want, total-1)
				}
			}
			got := sampledIndices(total, n)
			if got == nil {
				got = []int{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("total %d, n %d: got %v, want %v", total, n, got, want)
			}
		}
	}
}
