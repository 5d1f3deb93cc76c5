package sfnapi

import (
	"cmp"
	"slices"
)

// sequenced is what the server lists: each is numbered in the order it was created.
type sequenced interface{ sequence() int64 }

func (m *machine) sequence() int64   { return m.seq }
func (e *execution) sequence() int64 { return e.seq }
func (mr *mapRun) sequence() int64   { return mr.seq }

// The orders of listed: ListExecutions and ListMapRuns answer newest first, as AWS does;
// ListStateMachines in creation order.
const (
	newestFirst = -1
	oldestFirst = 1
)

// listed is the values of byARN that keep accepts, in order (newestFirst or oldestFirst), which
// also makes the pages of a listing stable.
func listed[V sequenced](byARN map[string]V, order int, keep func(V) bool) []V {
	var out []V
	for _, v := range byARN {
		if keep(v) {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b V) int { return order * cmp.Compare(a.sequence(), b.sequence()) })
	return out
}
