package policy_test

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/policy"
)

func TestCatalogJSONRoundTrip(t *testing.T) {
	t.Parallel()
	ref := policy.ReferenceCatalog()
	data, err := json.Marshal(ref)
	require.NoError(t, err)
	got, err := policy.ParseCatalog(data)
	require.NoError(t, err)
	require.Equal(t, ref, got)
	again, err := json.Marshal(got)
	require.NoError(t, err)
	require.JSONEq(t, string(data), string(again))

	// Every built-in policy, a zone and the options survive too.
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	all := &policy.Catalog{
		Location:    shanghai,
		DefaultPlan: "a",
		Backfill:    true,
		SignupGift:  &policy.Gift{Amount: decimal.RequireFromString("1.5")},
		Plans: []policy.Plan{
			{ID: "a", Allocation: policy.MonthlyCalendar(decimal.NewFromInt(7), ""), Expiry: policy.AtPeriodEnd(), Priority: -1},
			{ID: "b", Allocation: policy.MonthlyAnniversary(decimal.NewFromInt(9), "x"), Expiry: policy.Never()},
			{ID: "c"},
		},
		Packs: []policy.Pack{{ID: "p", Amount: decimal.NewFromInt(3), Priority: 2}},
	}
	data, err = json.Marshal(all)
	require.NoError(t, err)
	got = &policy.Catalog{}
	require.NoError(t, json.Unmarshal(data, got))
	require.Equal(t, all, got)
}

// TestCatalogJSONErrors checks that a bad JSON catalog fails with
// ErrInvalidCatalog naming the value, and that the errors Validate gives
// are the very ones a Go catalog gets (ledger.New calls Validate).
func TestCatalogJSONErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, json, want string
	}{
		{"syntax", `{"plans": [`, "unexpected EOF"},
		{"unknown field", `{"plans": [], "default_plan": "free"}`, `unknown field "default_plan"`},
		{"trailing", `{"plans": []} {}`, "trailing data"},
		{"allocation type", `{"plans": [{"id": "a", "allocation": {"type": "weekly", "amount": "1"}}]}`, `plan 0 ("a"): allocation type "weekly"`},
		{"no amount", `{"plans": [{"id": "a", "allocation": {"type": "monthly_calendar"}}]}`, `allocation "monthly_calendar" has no amount`},
		{"expiry type", `{"plans": [{"id": "a", "expiry": {"type": "soon"}}]}`, `expiry type "soon"`},
		{"no days", `{"plans": [{"id": "a", "expiry": {"type": "after_days"}}]}`, `expiry "after_days" has no days`},
		{"local", `{"location": "Local", "plans": []}`, `"Local"`},
		{"zone", `{"location": "Mars/Olympus", "plans": []}`, `location "Mars/Olympus"`},
		{"amount", `{"plans": [], "packs": [{"id": "p", "amount": "ten"}]}`, "ten"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.ParseCatalog([]byte(tc.json))
			require.ErrorIs(t, err, policy.ErrInvalidCatalog)
			require.ErrorContains(t, err, tc.want)
		})
	}

	// Validation errors: the same as for the equivalent Go catalog.
	for _, tc := range []struct {
		name   string
		json   string
		goForm *policy.Catalog
	}{
		{"zero days", `{"plans": [{"id": "a", "expiry": {"type": "after_days", "days": 0}}]}`,
			&policy.Catalog{Plans: []policy.Plan{{ID: "a", Expiry: policy.AfterDays(0)}}}},
		{"zero amount", `{"plans": [{"id": "a", "allocation": {"type": "monthly_anniversary", "amount": "0"}}]}`,
			&policy.Catalog{Plans: []policy.Plan{{ID: "a", Allocation: policy.MonthlyAnniversary(decimal.Zero, "")}}}},
		{"duplicate plan", `{"plans": [{"id": "a"}, {"id": "a"}]}`,
			&policy.Catalog{Plans: []policy.Plan{{ID: "a"}, {ID: "a"}}}},
		{"default plan", `{"defaultPlan": "free", "plans": [{"id": "a"}]}`,
			&policy.Catalog{DefaultPlan: "free", Plans: []policy.Plan{{ID: "a"}}}},
		{"gift", `{"plans": [], "signupGift": {"amount": "-5"}}`,
			&policy.Catalog{SignupGift: &policy.Gift{Amount: decimal.NewFromInt(-5)}}},
		{"empty pack id", `{"plans": [], "packs": [{"id": "", "amount": "1"}]}`,
			&policy.Catalog{Packs: []policy.Pack{{Amount: decimal.NewFromInt(1)}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.goForm.Validate()
			require.Error(t, want)
			_, err := policy.ParseCatalog([]byte(tc.json))
			require.ErrorIs(t, err, policy.ErrInvalidCatalog)
			require.EqualError(t, err, want.Error())
		})
	}
}

type customAllocation struct{}

func (customAllocation) Allocate(policy.Account, time.Time, *time.Location) (policy.Due, bool) {
	return policy.Due{}, false
}

func TestCatalogJSONCustomPolicy(t *testing.T) {
	t.Parallel()
	c := &policy.Catalog{Plans: []policy.Plan{{ID: "mine", Allocation: customAllocation{}}}}
	_, err := json.Marshal(c)
	require.ErrorIs(t, err, policy.ErrInvalidCatalog)
	require.ErrorContains(t, err, `plan "mine"`)
	_, err = json.Marshal(&policy.Catalog{Location: time.Local})
	require.ErrorContains(t, err, "Local")
}

// TestReadmeCatalog checks that docs/CATALOG.md shows the reference catalog in
// its JSON form exactly as MarshalIndent writes it (regenerate with
// `go run ./cmd/creditledger catalog`).
func TestReadmeCatalog(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../docs/CATALOG.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)<!-- reference-catalog -->\\s*```json\n(.*?)```").FindSubmatch(readme)
	require.NotNil(t, m, "docs/CATALOG.md has no reference-catalog block")
	got, err := policy.ParseCatalog(m[1])
	require.NoError(t, err)
	require.Equal(t, policy.ReferenceCatalog(), got)
	want, err := json.MarshalIndent(policy.ReferenceCatalog(), "", "  ")
	require.NoError(t, err)
	require.Equal(t, string(want)+"\n", string(m[1]), "docs/CATALOG.md block is not the generated form")
}
