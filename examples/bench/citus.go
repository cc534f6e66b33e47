package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
)

// runWithCitus runs the PostgreSQL phases twice in one process: on -dsn
// (one PostgreSQL), then on a schema distributed on the Citus coordinator
// of -citus (bunstore Options.Citus; -citus-shards shards), without the
// raw-SQL reference there, and prints the two side by side.
//
// On one machine, with the coordinator and the workers sharing its cores,
// the comparison shows what the distributed plan costs (a coordinator hop,
// per-shard statements, two-phase commit of the transactions that span
// workers), not what more machines would gain; see docs/SCALING.md.
func runWithCitus(ctx context.Context, c *config) error {
	plain, err := run(ctx, c)
	if err != nil {
		return fmt.Errorf("on PostgreSQL: %w", err)
	}
	onCitus := *c
	onCitus.dsn, onCitus.onCitus, onCitus.ref = c.citusDSN, true, ""
	distributed, err := run(ctx, &onCitus)
	if err != nil {
		return fmt.Errorf("on Citus: %w", err)
	}
	workers, err := citusWorkers(ctx, c.citusDSN)
	if err != nil {
		return err
	}
	if c.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"postgres": plain, "citus": distributed, "citusWorkers": workers})
	}
	printTable(plain)
	fmt.Println()
	printTable(distributed)
	fmt.Printf("\nside by side: one PostgreSQL vs a Citus coordinator with %d workers, all on this machine\n", workers)
	fmt.Printf("import through SetPlans: %.1f s vs %.1f s\n", plain.ImportSeconds, distributed.ImportSeconds)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tPostgreSQL\tCitus\tCitus/PostgreSQL")
	byName := map[string]figure{}
	for _, f := range distributed.Figures {
		byName[f.Name] = f
	}
	for _, f := range plain.Figures {
		d, ok := byName[f.Name]
		if !ok {
			continue
		}
		ratio := ""
		if f.Value > 0 {
			ratio = fmt.Sprintf("%.2fx", d.Value/f.Value)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Name, fmtValue(f.Value, f.Unit), fmtValue(d.Value, d.Unit), ratio)
	}
	return tw.Flush()
}

// citusWorkers counts the active primary workers of a coordinator.
func citusWorkers(ctx context.Context, dsn string) (int, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRowContext(ctx, "SELECT count(*) FROM pg_dist_node WHERE isactive AND noderole = 'primary' AND shouldhaveshards AND groupid <> 0").Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting Citus workers: %w", err)
	}
	return n, nil
}
