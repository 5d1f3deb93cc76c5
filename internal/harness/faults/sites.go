package faults

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keyrotor/keyrotor/localaws/faultproxy"
	"github.com/keyrotor/keyrotor/localaws/lambdahost"
)

// Site is one AWS call site: the k-th call of Service:Action that Function makes while serving
// Step (the rotation action: begin, create, store, verify, deactivate, delete, restore,
// rollback, release).
type Site struct {
	Function, Step  string
	Service, Action string
	K               int // 1-based among the step's calls of the same action
}

func (s Site) String() string {
	k := ""
	if s.K > 1 {
		k = fmt.Sprintf("#%d", s.K)
	}
	return fmt.Sprintf("%s/%s %s:%s%s", s.Function, s.Step, s.Service, s.Action, k)
}

// Point is a site as it occurs in one recorded run: Nth calls of Service:Action (from any
// function) came before it, so Rule{Service, Action, Skip: Nth} hits it.
type Point struct {
	Site
	Nth int
	Seq int // the call's sequence number in the run
}

// invocation is one Lambda invocation as its log lines show it.
type invocation struct {
	function, step string
	start, end     time.Time
}

// invocations groups a run's log lines by request: window (START … REPORT) and step.
func invocations(logs []lambdahost.LogLine, functionName func(string) string) []invocation {
	byID := map[string]*invocation{}
	var order []string
	for _, l := range logs {
		if l.RequestID == "" {
			continue
		}
		inv := byID[l.RequestID]
		if inv == nil {
			inv = &invocation{function: functionName(l.Function), start: l.Time}
			byID[l.RequestID] = inv
			order = append(order, l.RequestID)
		}
		if l.Time.Before(inv.start) {
			inv.start = l.Time
		}
		if l.Time.After(inv.end) {
			inv.end = l.Time
		}
		var rec struct {
			Step string `json:"step"`
		}
		if strings.HasPrefix(l.Text, "{") && json.Unmarshal([]byte(l.Text), &rec) == nil && rec.Step != "" {
			inv.step = rec.Step
		}
	}
	out := make([]invocation, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	return out
}

// Points attributes each recorded call of a sequential run to the function that signed it and
// the step it was serving (the invocation of that function whose log window holds the call).
func (b *Bench) Points(calls []faultproxy.Call, logs []lambdahost.LogLine) ([]Point, error) {
	invs := invocations(logs, func(name string) string { return strings.TrimPrefix(name, b.Env.Engine.FunctionName("")) })
	nth := map[string]int{}
	perStep := map[string]int{}
	var points []Point
	for _, c := range calls {
		key := c.Service + ":" + c.Action
		// A call signed with another key (verify's GetCallerIdentity signs with the new key)
		// belongs to the one invocation running then: the recorded runs are sequential.
		fn := b.FunctionOf(c.AccessKeyID)
		step := ""
		var inv *invocation
		for i := range invs {
			if (fn == "" || invs[i].function == fn) && !c.Time.Before(invs[i].start) && !c.Time.After(invs[i].end) {
				fn = invs[i].function
				inv = &invs[i]
				step = invs[i].step
			}
		}
		if step == "" {
			return nil, fmt.Errorf("call %d (%s signed by %s) falls in no invocation window with a step log line", c.Seq, key, c.AccessKeyID)
		}
		stepKey := fmt.Sprintf("%p/%s", inv, key)
		perStep[stepKey]++
		points = append(points, Point{
			Site: Site{Function: fn, Step: step, Service: c.Service, Action: c.Action, K: perStep[stepKey]},
			Nth:  nth[key], Seq: c.Seq,
		})
		nth[key]++
	}
	return points, nil
}

// SortSites orders sites by the order steps run and then by name, for printing.
func SortSites(sites []Site) {
	order := map[string]int{"begin": 0, "create": 1, "store": 2, "verify": 3, "deactivate": 4, "delete": 5,
		"release": 6, "restore": 7, "rollback": 8}
	sort.SliceStable(sites, func(i, j int) bool {
		a, b := sites[i], sites[j]
		if order[a.Step] != order[b.Step] {
			return order[a.Step] < order[b.Step]
		}
		return a.String() < b.String()
	})
}
