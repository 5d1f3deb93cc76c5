package leastprivilege

import (
	"path"
	"sort"
	"strings"

	"github.com/keyrotor/keyrotor/internal/deployed"
)

// Use is what allowed calls a statement decided.
type Use struct {
	Statement StatementRef
	Effect    string
	Actions   []string       // the actions (or patterns) the statement lists
	Used      map[string]int // listed action → allowed calls it decided
}

// Decisive reports whether the statement decided some allowed call.
func (u Use) Decisive() bool { return len(u.Used) > 0 }

// UnusedActions are the listed actions no allowed call needed from this statement.
func (u Use) UnusedActions() []string {
	var out []string
	for _, a := range u.Actions {
		if u.Used[a] == 0 {
			out = append(out, a)
		}
	}
	return out
}

// Coverage accounts every statement of p against the decisions: which of its actions were
// decisive for which allowed calls. Statements are ordered as in p (identity policies by
// principal, then resource policies).
func Coverage(decisions []Decision, p Policies) []Use {
	var uses []Use
	index := map[StatementRef]int{}
	add := func(policy string, doc []stmt) {
		for _, s := range doc {
			ref := StatementRef{Policy: policy, Sid: s.sid}
			if _, dup := index[ref]; dup {
				continue
			}
			index[ref] = len(uses)
			uses = append(uses, Use{Statement: ref, Effect: s.effect, Actions: s.actions, Used: map[string]int{}})
		}
	}
	principals := make([]string, 0, len(p.Identity))
	for pr := range p.Identity {
		principals = append(principals, pr)
	}
	sort.Strings(principals)
	for _, pr := range principals {
		for _, np := range p.Identity[pr] {
			add(np.Name, statements(np.Document.Statement))
		}
	}
	resources := make([]string, 0, len(p.Resource))
	for r := range p.Resource {
		resources = append(resources, r)
	}
	sort.Strings(resources)
	for _, r := range resources {
		add(ResourcePolicyName, statements(p.Resource[r].Statement))
	}

	for _, d := range decisions {
		if !d.Allowed() {
			continue
		}
		for _, ref := range d.Decisive {
			i, ok := index[ref]
			if !ok {
				continue
			}
			for _, pattern := range uses[i].Actions {
				if ActionMatches(pattern, d.Call.Action) {
					uses[i].Used[pattern]++
				}
			}
		}
	}
	return uses
}

type stmt struct {
	sid, effect string
	actions     []string
}

func statements(in []deployed.Statement) []stmt {
	out := make([]stmt, 0, len(in))
	for _, s := range in {
		out = append(out, stmt{sid: s.Sid, effect: s.Effect, actions: s.Action})
	}
	return out
}

// ActionMatches reports whether an IAM action pattern (with * and ?) matches action; IAM
// compares actions case-insensitively.
func ActionMatches(pattern, action string) bool {
	ok, err := path.Match(strings.ToLower(pattern), strings.ToLower(action))
	return err == nil && ok
}
