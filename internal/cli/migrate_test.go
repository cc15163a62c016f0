package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/testsvc"
)

// TestMigrate: `audex migrate` on a new, empty PostgreSQL database creates
// River's tables and audex's, and run again (as every node does at start)
// changes nothing and succeeds. A store it cannot reach is a failure,
// exit 1, whose message does not show the URL's password.
func TestMigrate(t *testing.T) {
	t.Parallel()
	store := testsvc.StartPostgres(t).NewDatabase(t)
	ctx := context.Background()
	for range 2 {
		r := run(t, ctx, nil, map[string]string{"AUDEX_STORE": store}, "migrate")
		require.Equal(t, ExitOK, r.code, r.stderr)
		assert.Empty(t, r.stdout)
		assert.Empty(t, r.stderr)
	}
	conn, err := pgx.Connect(ctx, store)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, table := range []string{"river_job", "river_migration", "audex_jobs", "audex_nodes"} {
		var found bool
		require.NoError(t, conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&found))
		assert.True(t, found, table)
	}

	r := run(t, ctx, nil, nil, "migrate", "--store", "postgres://audex:hunter2@127.0.0.1:1/none?connect_timeout=5")
	assert.Equal(t, ExitFailure, r.code)
	assert.True(t, strings.HasPrefix(r.stderr, "audex: "), r.stderr)
	assert.Contains(t, r.stderr, "connection refused")
	assert.NotContains(t, r.stderr, "hunter2", "the password stays out of the message")
}
