package cli

import (
	"context"

	"github.com/audex/audex/jobs"
)

var migrateCmd = &command{
	name:    "migrate",
	args:    "--store URL",
	summary: "create or update the schema of a shared job store",
	help: `
Applies the schema of the PostgreSQL job store named by --store: River's
queue tables and audex's own. It is idempotent: a store already up to date
is left as it is. 'audex serve' and 'audex work' apply it at start too; run
migrate ahead of a rollout so that no node of the new version waits on
another's migration, or with a role allowed to change the schema when the
nodes' role is not.

Examples:
  audex migrate --store postgres://audex@db:5432/audex
  AUDEX_STORE=postgres://audex:secret@db/audex audex migrate
`,
}

func init() { migrateCmd.run = runMigrate }

func runMigrate(ctx context.Context, e *env, args []string) error {
	fs := migrateCmd.newFlags()
	store := fs.String("store", "", storeUsage)
	withEnv(fs)
	pos, err := migrateCmd.parse(e, fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos); err != nil {
		return err
	}
	if err := fromEnv(fs, e.getenv); err != nil {
		return err
	}
	if shared, err := sharedStore(*store); err != nil {
		return err
	} else if !shared {
		return usagef("--store: want the PostgreSQL store to migrate, postgres://… (the embedded store needs no migration)")
	}
	return jobs.Migrate(ctx, *store)
}
