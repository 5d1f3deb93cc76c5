package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// Result is one answer of a task stub. Exactly one of Output, Error, Merge, Echo is set.
// runner.mjs implements the same semantics for aws-local-stepfunctions.
type Result struct {
	Output json.RawMessage `json:"output,omitempty"` // returned as is
	Error  string          `json:"error,omitempty"`  // a named task failure ...
	Cause  string          `json:"cause,omitempty"`  // ... with this cause
	// Merge returns the input's "rotation" object (or the input itself if it has none)
	// with these fields set: a rotation Lambda answers with the document it was given, updated.
	Merge map[string]any `json:"merge,omitempty"`
	Echo  bool           `json:"echo,omitempty"` // returns the input
}

func out(v string) Result                { return Result{Output: json.RawMessage(v)} }
func fail(name, cause string) Result     { return Result{Error: name, Cause: cause} }
func merge(fields map[string]any) Result { return Result{Merge: fields} }
func repeat(r Result, n int) []Result {
	rs := make([]Result, n)
	for i := range rs {
		rs[i] = r
	}
	return rs
}
func seq(parts ...[]Result) []Result {
	var all []Result
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// call is one task invocation as an engine made it.
type call struct {
	State string          `json:"state"`
	Input json.RawMessage `json:"input"`
}

// stubs answers tasks from a scenario's Tasks: keyed by state name, else by resource; the n-th
// call to a key gets its n-th result, the last result repeats.
type stubs struct {
	tasks map[string][]Result

	mu     sync.Mutex
	counts map[string]int
	calls  []call
}

func newStubs(tasks map[string][]Result) *stubs {
	return &stubs{tasks: tasks, counts: map[string]int{}}
}

func (s *stubs) InvokeTask(_ context.Context, req sfnlocal.TaskRequest) (json.RawMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call{State: req.StateName, Input: append(json.RawMessage(nil), req.Input...)})
	key := ""
	if _, ok := s.tasks[req.StateName]; ok {
		key = req.StateName
	} else if _, ok := s.tasks[req.Resource]; ok {
		key = req.Resource
	} else {
		return nil, sfnlocal.NewTaskFailure("Stub.Missing", fmt.Sprintf("no stub for state %s or resource %s", req.StateName, req.Resource))
	}
	list := s.tasks[key]
	n := s.counts[key]
	s.counts[key]++
	r := list[min(n, len(list)-1)]
	switch {
	case r.Error != "":
		return nil, sfnlocal.NewTaskFailure(r.Error, r.Cause)
	case r.Output != nil:
		return r.Output, nil
	case r.Echo:
		return req.Input, nil
	case r.Merge != nil:
		var in any
		if err := json.Unmarshal(req.Input, &in); err != nil {
			return nil, err
		}
		base := map[string]any{}
		if obj, ok := in.(map[string]any); ok {
			base = obj
			if rot, ok := obj["rotation"].(map[string]any); ok {
				base = rot
			}
		}
		for k, v := range r.Merge {
			base[k] = v
		}
		return json.Marshal(base)
	}
	return nil, sfnlocal.NewTaskFailure("Stub.Invalid", "stub result has none of output, error, merge, echo")
}

func taskRequest(state, input string) sfnlocal.TaskRequest {
	return sfnlocal.TaskRequest{StateName: state, Resource: fn, Input: json.RawMessage(input)}
}
