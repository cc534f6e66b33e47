package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/creditledger/creditledger/ledger"
)

// anchorCmd is anchor's options (none of its own).
type anchorCmd struct{}

// run prints the heads of every account's chain and their digest:
// with -json the anchor's JSON form, the file to keep off the database
// that `verify -anchor FILE` reads.
func (*anchorCmd) run(ctx context.Context, e *env) error {
	l, store, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	a, err := l.Anchor(ctx)
	if err != nil {
		return err
	}
	if e.common.json {
		data, err := json.Marshal(a)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "%s\n", data)
		return err
	}
	fmt.Fprintf(e.stdout, "anchor of %d accounts at %s\ndigest %s\n", a.Accounts, a.At.Format("2006-01-02T15:04:05.999999Z07:00"), a.Digest)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tSEQ\tHEAD")
	for _, h := range a.Heads {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", h.Account, h.Seq, h.Hash)
	}
	return tw.Flush()
}

// verifyFlags are verify's own flags.
func verifyFlags(fs *flag.FlagSet) runner {
	o := &verifyCmd{}
	fs.StringVar(&o.anchorFile, "anchor", "", "an anchor file written by 'anchor -json': also report every account whose history no longer extends it")
	fs.StringVar(&o.anchorDigest, "digest", "", "the anchor's digest as kept off the database: refuse an anchor file with another (needs -anchor)")
	return o
}

// verifyOpts reads the anchor that verify's flags name, nil without one.
// An unreadable or altered anchor is a failure (exit 1), a -digest
// without -anchor a usage error.
func (o *verifyCmd) verifyOpts() (*ledger.VerifyOpts, error) {
	if o.anchorFile == "" {
		if o.anchorDigest != "" {
			return nil, usagef("-digest needs -anchor FILE")
		}
		return nil, nil
	}
	data, err := os.ReadFile(o.anchorFile)
	if err != nil {
		return nil, fmt.Errorf("-anchor: %w", err)
	}
	a, err := ledger.ParseAnchor(data)
	if err != nil {
		// An anchor that does not parse or check out is evidence, not a
		// mistyped flag: exit 1, as a violation would.
		return nil, &failure{msg: fmt.Sprintf("-anchor %s: %s", o.anchorFile, errorText(err))}
	}
	return &ledger.VerifyOpts{Anchor: a, Digest: o.anchorDigest}, nil
}

// anchorSummary is the line verify prints about an anchor, "" without one.
func anchorSummary(opts *ledger.VerifyOpts, rep *ledger.VerifyReport) string {
	if opts == nil {
		return ""
	}
	return fmt.Sprintf("checked %d accounts against the anchor of %s: %d no longer extend it\n",
		rep.Anchored, opts.Anchor.At.Format("2006-01-02T15:04:05.999999Z07:00"), len(rep.AnchorBroken))
}
