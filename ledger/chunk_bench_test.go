package ledger

import (
	"strconv"
	"testing"
	"time"

	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/memory"
)

// BenchmarkDistributeStage measures Distribute's Go side alone: the
// staging of one chunk of 1,000 due accounts (a third on each of free,
// pro_yearly and lifetime; every other one with last month's lot to
// expire), with no store call. "one-batch" is how a chunk stages now,
// every account's writer appending to the chunk's batch; "per-account"
// is the way before (a batch per account, then merged), kept here as the
// baseline of the same run.
func BenchmarkDistributeStage(b *testing.B) {
	l, err := New(memory.New(), &Config{Catalog: policy.ReferenceCatalog()})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	const n = DefaultChunkSize
	plans := []string{"free", "pro_yearly", "lifetime"}
	accts := make([]storage.Account, n)
	lots := make([][]storage.Lot, n)
	for i := range accts {
		due := now.Add(-time.Hour)
		accts[i] = storage.Account{ID: "user_" + strconv.Itoa(i), Plan: plans[i%3], Anchor: now.AddDate(0, 0, -(i % 28)),
			Balance: 0, Seq: 3, CreatedAt: now.AddDate(0, -2, 0), NextGrantAt: &due}
		if i%2 == 0 {
			exp := now.Add(-2 * time.Hour)
			accts[i].Balance, accts[i].NextExpiryAt = 40, &exp
			lots[i] = []storage.Lot{{ID: "lot_" + strconv.Itoa(i), Account: accts[i].ID, Source: "monthly", Amount: 100, Remaining: 40,
				ExpiresAt: &exp, CreatedAt: now.AddDate(0, -1, 0)}}
		}
	}
	for _, mode := range []string{"one-batch", "per-account"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c := &chunk{l: l, now: now, grants: true, skipKeys: true, retry: time.Hour}
				var batch *storage.Batch
				if mode == "one-batch" {
					batch = &storage.Batch{Lots: make([]storage.Lot, 0, n), Entries: make([]storage.Entry, 0, 2*n),
						Accounts: make([]storage.AccountUpdate, 0, n)}
					c.batch = batch
				} else {
					batch = &storage.Batch{}
				}
				jobBuf := make([]accountJob, n)
				for i := range accts {
					job := &jobBuf[i]
					c.prepareInto(job, accts[i])
					job.lots = lots[i]
					if err := c.stage(job); err != nil {
						b.Fatal(err)
					}
					if c.batch == nil {
						merge(batch, job.batch)
					}
				}
				if len(batch.Lots) != n || len(batch.Accounts) != n || len(batch.Entries) != n+n/2 {
					b.Fatalf("staged %d lots, %d accounts, %d entries", len(batch.Lots), len(batch.Accounts), len(batch.Entries))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/account")
		})
	}
}
