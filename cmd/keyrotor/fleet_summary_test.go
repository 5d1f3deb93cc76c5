package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/keyrotor/keyrotor/internal/fleet"
)

// A fleet whose Map ran items its listing did not write says so on the CLI, not only in the
// summary's JSON (issue 24, finding 7).
func TestFleetSummaryWarnsOfItemsTheListingDidNotWrite(t *testing.T) {
	for _, tt := range []struct {
		name string
		sum  fleet.Summary
		warn bool
	}{
		{"every item the listing's", fleet.Summary{Managed: 1, Counts: fleet.Counts{Rotated: 1}}, false},
		{"an item not listed", fleet.Summary{Managed: 1, Counts: fleet.Counts{Rotated: 1, Failed: 1}, NotListed: 1,
			ItemsNotListed: "the Map ran 2 items but the listing wrote 1: 1 items the listing did not write were run"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			printFleetSummary(&out, &tt.sum, 1)
			if got := strings.Contains(out.String(), "WARNING: the Map ran 2 items but the listing wrote 1"); got != tt.warn {
				t.Errorf("warning printed %t, want %t:\n%s", got, tt.warn, out.String())
			}
		})
	}
}
