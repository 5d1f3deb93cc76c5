package sfnlocal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
)

// Distributed Map, as AWS documents it
// (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html): each item
// runs as a child workflow execution of the ItemProcessor, with its own history, in a Map Run
// (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-examine-map-run.html). The
// parent's history holds MapStateStarted, MapRunStarted {mapRunArn}, MapRunSucceeded |
// MapRunFailed {error, cause} | MapRunAborted, MapStateSucceeded | MapStateFailed — the shape
// AWS recorded in localstack/localstack
// tests/aws/services/stepfunctions/v2/scenarios/test_base_scenarios.snapshot.json
// (test_map_item_reader_base_json, test_map_state_result_writer,
// test_map_item_reader_csv_headers_decl_duplicate_headers).

// Error names of Distributed Map.
const (
	ErrItemReaderFailed   = "States.ItemReaderFailed"
	ErrResultWriterFailed = "States.ResultWriterFailed"
)

// distributedMapConcurrency is a Distributed Map's concurrency when MaxConcurrency is 0 or
// absent: 10,000 child executions at once (state-map-distributed.html, "MaxConcurrency").
const distributedMapConcurrency = 10000

// exceededCause is AWS's cause for States.ExceedToleratedFailureThreshold (as restated by
// localstack's Step Functions provider, localstack-core/.../asl/component/test_state/state/map.py).
const exceededCause = "The specified tolerated failure threshold was exceeded"

// MapRuns registers Map Runs and runs their child executions (see Options.MapRuns).
type MapRuns interface {
	// StartMapRun registers a Map Run (its ARN is MapRunArn of its machine, label and ID).
	StartMapRun(ctx context.Context, run MapRunStart) error
	// RunChild runs one child execution to its end and returns how it ended. When ctx is
	// cancelled (the Map Run failed or was stopped) the child is stopped: ABORTED.
	RunChild(ctx context.Context, child ChildRun) ChildOutcome
	// EndMapRun records how the Map Run ended.
	EndMapRun(mapRunArn string, end MapRunEnd)
}

// ObjectStore is the part of S3 ItemReader and ResultWriter use.
type ObjectStore interface {
	GetObject(ctx context.Context, bucket, key string) ([]byte, error)
	PutObject(ctx context.Context, bucket, key string, body []byte) error
}

// MapRunStart describes a Map Run as it starts (DescribeMapRun's settings).
type MapRunStart struct {
	ExecutionArn, StateMachineArn, StateName string
	// LabelOrID is the Map's Label, or a UUID when it has none: the Map Run ARN and the child
	// executions' state machine ARN carry it after the machine's name.
	LabelOrID                  string
	ID                         string // the Map Run's UUID, last in its ARN
	Arn                        string
	Items                      int // how many items it runs
	MaxConcurrency             int
	ToleratedFailureCount      int64
	ToleratedFailurePercentage float64
	Region, RoleArn            string
}

// ChildRun is one child execution of a Map Run.
type ChildRun struct {
	MapRunArn, ExecutionArn, StateMachineArn, Name string
	Index                                          int
	Machine                                        *StateMachine
	Input                                          string
	RoleArn                                        string
}

// ChildOutcome is how a child execution ended.
type ChildOutcome struct {
	ExecutionArn, Name string
	Status             string
	Input              string
	Output             json.RawMessage
	Error, Cause       string
	StartDate          time.Time
	StopDate           time.Time
}

// MapRunEnd is how a Map Run ended.
type MapRunEnd struct {
	Status         string // SUCCEEDED | FAILED | ABORTED
	Error, Cause   string
	ResultsWritten int // child executions whose results ResultWriter wrote
}

// MapRun is a Map Run the engine ran itself.
type MapRun struct {
	Arn      string
	Start    MapRunStart
	End      MapRunEnd
	mu       sync.Mutex
	Children []*Execution // by item index
}

// MapRunArn returns the ARN of a Map Run: arn:aws:states:<region>:<account>:mapRun:
// <machine>/<label or UUID>:<UUID> (recorded in localstack
// tests/aws/services/stepfunctions/v2/test_sfn_api_map_run.snapshot.json).
func MapRunArn(stateMachineArn, labelOrID, id string) string {
	return strings.Replace(stateMachineArn, ":stateMachine:", ":mapRun:", 1) + "/" + labelOrID + ":" + id
}

// ChildStateMachineArn is the state machine ARN of a Map Run's child executions:
// <machine ARN>/<label or UUID> (concepts-examine-map-run.html, recorded in ListMapRuns).
func ChildStateMachineArn(stateMachineArn, labelOrID string) string {
	return stateMachineArn + "/" + labelOrID
}

// ChildExecutionArn is the ARN of a child execution named name:
// arn:aws:states:<region>:<account>:execution:<machine>/<label or UUID>:<name>.
func ChildExecutionArn(stateMachineArn, labelOrID, name string) string {
	return strings.Replace(stateMachineArn, ":stateMachine:", ":execution:", 1) + "/" + labelOrID + ":" + name
}

// uuid returns a random (version 4) UUID from the run's rand.
func (r *runner) uuid() string {
	r.rndMu.Lock()
	a, b := r.rnd.Uint64(), r.rnd.Uint64()
	r.rndMu.Unlock()
	a = a&^(0xf<<12) | 4<<12
	b = b&^(0x3<<62) | 2<<62
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

func (r *runner) runDistributedMap(ctx context.Context, th *thread, st *state, raw any, ctxObj map[string]any) (any, error) {
	eff, err := r.inputPath(st, raw, ctxObj)
	if err != nil {
		return nil, err
	}
	var items []any
	if st.itemReader == nil {
		if items, err = mapItems(st, eff, ctxObj); err != nil {
			return nil, err
		}
	}
	limit, err := mapConcurrency(st, eff, ctxObj)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = distributedMapConcurrency
	}
	enteredID := th.last // the MapStateEntered event

	// With an ItemReader the items are read once the Map Run has started, and MapStateStarted
	// reports length 0 (recorded: test_map_item_reader_base_json).
	th.mapStateStarted(len(items))
	// A tolerated-failure path that selects a bad value fails the execution after
	// MapStateStarted, with no MapStateFailed, and a cause that names the state and its entry
	// event (recorded: localstack tests/aws/services/stepfunctions/v2/scenarios/
	// test_base_scenarios.snapshot.json, test_map_state_tolerated_failure_count_path[-1] and
	// test_map_state_tolerated_failure_percentage_path[100.1]).
	given, tolCount, tolPct, err := r.tolerance(st, eff, ctxObj)
	if err != nil {
		var se *stateError
		if errors.As(err, &se) {
			se.Cause = fmt.Sprintf("An error occurred while executing the state '%s' (entered at the event id #%d). %s", st.name, enteredID, se.Cause)
		}
		return nil, err
	}
	if !given {
		tolCount, tolPct = 0, 0
	}
	runs := r.opts.MapRuns
	if runs == nil {
		runs = &engineMapRuns{r: r}
	}
	labelOrID := st.label
	if labelOrID == "" {
		labelOrID = r.uuid()
	}
	start := MapRunStart{ExecutionArn: r.opts.ExecutionArn, StateMachineArn: r.opts.StateMachineArn, StateName: st.name,
		LabelOrID: labelOrID, ID: r.uuid(), MaxConcurrency: limit, Region: r.region, RoleArn: r.opts.RoleArn}
	if given {
		start.ToleratedFailureCount = int64(min(tolCount, math.MaxInt32))
		if !math.IsInf(tolPct, 1) {
			start.ToleratedFailurePercentage = tolPct
		}
	}
	start.Arn = MapRunArn(r.opts.StateMachineArn, labelOrID, start.ID)
	mapRunArn := start.Arn
	th.mapRunStarted(mapRunArn)
	runFailed := func(se *stateError) (any, error) {
		runs.EndMapRun(mapRunArn, MapRunEnd{Status: StatusFailed, Error: se.Name, Cause: se.Cause})
		th.mapRunFailed(se)
		th.mapStateFailed()
		return nil, se
	}
	var readErr error
	if st.itemReader != nil {
		items, readErr = r.readItems(ctx, st, eff, ctxObj)
	}
	start.Items = len(items)
	if err := runs.StartMapRun(ctx, start); err != nil {
		return nil, &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("starting the Map Run of state %q: %v", st.name, err)}
	}
	if readErr != nil {
		var se *stateError
		if errors.As(readErr, &se) {
			return runFailed(se)
		}
		return nil, readErr
	}

	inputs := make([]string, len(items))
	for i, item := range items {
		v, err := r.itemInput(st, eff, ctxObj, i, item)
		if err != nil {
			var se *stateError
			if errors.As(err, &se) {
				return runFailed(se)
			}
			return nil, err
		}
		inputs[i] = encodeJSON(v)
	}

	mctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	outcomes := make([]ChildOutcome, len(items))
	failed := &mapFailures{failureTolerance: failureTolerance{count: tolCount, pct: tolPct, items: len(items)},
		stop: func() { cancel(errSiblingFailed) }}
	childArn := ChildStateMachineArn(r.opts.StateMachineArn, labelOrID)
	runChild := func(i int) {
		name := r.uuid()
		out := runs.RunChild(mctx, ChildRun{MapRunArn: mapRunArn, Index: i, Machine: st.child, Input: inputs[i],
			ExecutionArn: ChildExecutionArn(r.opts.StateMachineArn, labelOrID, name), StateMachineArn: childArn,
			Name: name, RoleArn: r.opts.RoleArn})
		outcomes[i] = out
		if out.Status == StatusSucceeded {
			return
		}
		if mctx.Err() != nil && out.Status == StatusAborted {
			return // stopped because the Map Run ended: not a failure of its own
		}
		failed.add(func(n int) *stateError {
			if failed.exceededBy(n) {
				return &stateError{Name: ErrExceedToleratedFailureThreshold, Cause: exceededCause}
			}
			return nil
		})
	}
	r.forEachItem(mctx, limit, len(items), runChild)
	if ctx.Err() != nil {
		runs.EndMapRun(mapRunArn, MapRunEnd{Status: StatusAborted})
		th.mapRunAborted()
		return nil, ctx.Err() // the executor records MapStateAborted
	}

	var result any
	written := 0
	if st.resultWriter != nil {
		res, err := r.writeResults(ctx, st, eff, ctxObj, mapRunArn, start.ID, childArn, outcomes)
		if err != nil {
			var se *stateError
			if failed.err == nil && errors.As(err, &se) {
				failed.err = se
			} else if failed.err == nil {
				return nil, err
			}
		}
		result = res
		if err == nil {
			for _, o := range outcomes {
				if o.Status != "" {
					written++
				}
			}
		}
	} else {
		outputs := make([]any, len(outcomes))
		for i, o := range outcomes {
			switch o.Status {
			case StatusSucceeded:
				v, _, err := decodeCompactText(string(o.Output))
				if err != nil {
					v = string(o.Output)
				}
				outputs[i] = v
			case "":
				outputs[i] = nil // never started
			default:
				outputs[i] = map[string]any{"Error": o.Error, "Cause": o.Cause}
			}
		}
		result = outputs
	}
	if failed.err != nil {
		return runFailed(failed.err)
	}
	runs.EndMapRun(mapRunArn, MapRunEnd{Status: StatusSucceeded, ResultsWritten: written})
	endID := th.mapRunSucceeded()
	th.mapStateSucceeded()
	// AWS chains MapStateExited to MapRunSucceeded, not to MapStateSucceeded (recorded:
	// test_map_state_result_writer, events 5-7).
	th.last = endID
	return r.finishResult(st, raw, result, ctxObj)
}

// readItems reads the ItemReader's S3 object: a JSON array (InputType JSON), at most MaxItems
// of it (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemreader.html).
func (r *runner) readItems(ctx context.Context, st *state, eff any, ctxObj map[string]any) ([]any, error) {
	pv, err := st.itemReader.params.eval(r.env(eff, ctxObj), "ItemReader.Parameters")
	if err != nil {
		return nil, err
	}
	bucket, key := s3Location(pv, "Key")
	if bucket == "" || key == "" {
		return nil, &stateError{Name: ErrItemReaderFailed, Cause: fmt.Sprintf("ItemReader.Parameters must give Bucket and Key as strings, got %s", encodeJSON(pv))}
	}
	if r.opts.Objects == nil {
		return nil, &stateError{Name: ErrItemReaderFailed, Cause: "no S3 is configured for the local engine (sfnlocal.Options.Objects)"}
	}
	body, err := r.opts.Objects.GetObject(ctx, bucket, key)
	if err != nil {
		return nil, &stateError{Name: ErrItemReaderFailed, Cause: fmt.Sprintf("reading s3://%s/%s: %v", bucket, key, err)}
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, &stateError{Name: ErrItemReaderFailed, Cause: fmt.Sprintf("s3://%s/%s is not JSON: %v", bucket, key, err)}
	}
	items, ok := v.([]any)
	if !ok {
		// AWS's cause for a JSON document that is not a list (recorded:
		// test_map_item_reader_json_no_json_list_object).
		return nil, &stateError{Name: ErrItemReaderFailed, Cause: "Attempting to map over non-iterable node."}
	}
	if m := st.itemReader.maxItems; m > 0 && len(items) > m {
		items = items[:m]
	}
	return items, nil
}

func s3Location(v any, keyField string) (bucket, key string) {
	m, _ := v.(map[string]any)
	bucket, _ = m["Bucket"].(string)
	key, _ = m[keyField].(string)
	return bucket, key
}

// resultFileEntry is one child execution in a ResultWriter results file, as AWS writes it
// (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html).
type resultFileEntry struct {
	ExecutionArn    string        `json:"ExecutionArn"`
	Input           string        `json:"Input"`
	InputDetails    syncIncluded  `json:"InputDetails"`
	Name            string        `json:"Name"`
	Output          *string       `json:"Output,omitempty"`
	OutputDetails   *syncIncluded `json:"OutputDetails,omitempty"`
	Error           string        `json:"Error,omitempty"`
	Cause           string        `json:"Cause,omitempty"`
	RedriveCount    int           `json:"RedriveCount"`
	RedriveStatus   string        `json:"RedriveStatus"`
	StartDate       string        `json:"StartDate"`
	StateMachineArn string        `json:"StateMachineArn"`
	Status          string        `json:"Status"`
	StopDate        string        `json:"StopDate"`
}

type syncIncluded struct {
	Included bool `json:"Included"`
}

type manifestFile struct {
	Key  string `json:"Key"`
	Size int    `json:"Size"`
}

// writeResults writes the ResultWriter's files — <Prefix>/<Map Run UUID>/SUCCEEDED_0.json,
// FAILED_0.json, PENDING_0.json and manifest.json — and returns the state's result,
// {MapRunArn, ResultWriterDetails: {Bucket, Key of the manifest}} (recorded:
// test_map_state_result_writer; file layout and manifest: input-output-resultwriter.html).
func (r *runner) writeResults(ctx context.Context, st *state, eff any, ctxObj map[string]any, mapRunArn, id, childSM string, outcomes []ChildOutcome) (any, error) {
	pv, err := st.resultWriter.eval(r.env(eff, ctxObj), "ResultWriter.Parameters")
	if err != nil {
		return nil, err
	}
	bucket, prefix := s3Location(pv, "Prefix")
	if bucket == "" {
		return nil, &stateError{Name: ErrResultWriterFailed, Cause: fmt.Sprintf("ResultWriter.Parameters must give Bucket (and Prefix) as strings, got %s", encodeJSON(pv))}
	}
	if r.opts.Objects == nil {
		return nil, &stateError{Name: ErrResultWriterFailed, Cause: "no S3 is configured for the local engine (sfnlocal.Options.Objects)"}
	}
	dir := id
	if prefix != "" {
		dir = strings.TrimSuffix(prefix, "/") + "/" + id
	}
	groups := map[string][]resultFileEntry{"SUCCEEDED": {}, "FAILED": {}, "PENDING": {}}
	for _, o := range outcomes {
		if o.Status == "" {
			continue // never started
		}
		e := resultFileEntry{ExecutionArn: o.ExecutionArn, Input: o.Input, InputDetails: syncIncluded{true}, Name: o.Name,
			Error: o.Error, Cause: o.Cause, RedriveStatus: "NOT_REDRIVABLE", StartDate: o.StartDate.UTC().Format(time.RFC3339Nano),
			StateMachineArn: childSM, Status: o.Status, StopDate: o.StopDate.UTC().Format(time.RFC3339Nano)}
		group := "FAILED"
		if o.Status == StatusSucceeded {
			out := string(o.Output)
			e.Output, e.OutputDetails, group = &out, &syncIncluded{true}, "SUCCEEDED"
		}
		groups[group] = append(groups[group], e)
	}
	manifest := struct {
		DestinationBucket string                    `json:"DestinationBucket"`
		MapRunArn         string                    `json:"MapRunArn"`
		ResultFiles       map[string][]manifestFile `json:"ResultFiles"`
	}{bucket, mapRunArn, map[string][]manifestFile{"SUCCEEDED": {}, "FAILED": {}, "PENDING": {}}}
	for _, g := range []string{"SUCCEEDED", "FAILED", "PENDING"} {
		if len(groups[g]) == 0 {
			continue
		}
		body, err := marshalNoEscape(groups[g])
		if err != nil {
			return nil, fmt.Errorf("encoding the %s results of %s: %w", g, mapRunArn, err)
		}
		key := dir + "/" + g + "_0.json"
		if err := r.opts.Objects.PutObject(ctx, bucket, key, body); err != nil {
			return nil, &stateError{Name: ErrResultWriterFailed, Cause: fmt.Sprintf("writing s3://%s/%s: %v", bucket, key, err)}
		}
		manifest.ResultFiles[g] = append(manifest.ResultFiles[g], manifestFile{Key: key, Size: len(body)})
	}
	body, err := marshalNoEscape(manifest)
	if err != nil {
		return nil, fmt.Errorf("encoding the manifest of %s: %w", mapRunArn, err)
	}
	key := dir + "/manifest.json"
	if err := r.opts.Objects.PutObject(ctx, bucket, key, body); err != nil {
		return nil, &stateError{Name: ErrResultWriterFailed, Cause: fmt.Sprintf("writing s3://%s/%s: %v", bucket, key, err)}
	}
	return map[string]any{"MapRunArn": mapRunArn, "ResultWriterDetails": map[string]any{"Bucket": bucket, "Key": key}}, nil
}

// engineMapRuns runs Map Runs in the engine itself, keeping them on the Execution.
type engineMapRuns struct {
	r *runner
}

func (m *engineMapRuns) StartMapRun(ctx context.Context, run MapRunStart) error {
	m.r.pathMu.Lock()
	m.r.mapRuns = append(m.r.mapRuns, &MapRun{Arn: run.Arn, Start: run})
	m.r.pathMu.Unlock()
	return nil
}

func (m *engineMapRuns) find(arn string) *MapRun {
	m.r.pathMu.Lock()
	defer m.r.pathMu.Unlock()
	for _, mr := range m.r.mapRuns {
		if mr.Arn == arn {
			return mr
		}
	}
	return nil
}

func (m *engineMapRuns) RunChild(ctx context.Context, c ChildRun) ChildOutcome {
	// Each child runs its own compiled copy: concurrent runs share no engine state.
	sm, err := Parse(c.Machine.Definition())
	if err != nil {
		return ChildOutcome{ExecutionArn: c.ExecutionArn, Name: c.Name, Status: StatusFailed, Input: c.Input, Error: ErrRuntime, Cause: err.Error()}
	}
	ex := Run(ctx, sm, json.RawMessage(c.Input), Options{Tasks: m.r.opts.Tasks, Clock: m.r.clock,
		ExecutionArn: c.ExecutionArn, StateMachineArn: c.StateMachineArn, Name: c.Name, RoleArn: c.RoleArn,
		Region: m.r.region, Rand: m.r.lockedRand(), Objects: m.r.opts.Objects})
	if mr := m.find(c.MapRunArn); mr != nil {
		mr.mu.Lock()
		for len(mr.Children) <= c.Index {
			mr.Children = append(mr.Children, nil)
		}
		mr.Children[c.Index] = ex
		mr.mu.Unlock()
	}
	return ChildOutcome{ExecutionArn: c.ExecutionArn, Name: c.Name, Status: ex.Status, Input: c.Input, Output: ex.Output,
		Error: ex.Error, Cause: ex.Cause, StartDate: ex.StartDate, StopDate: ex.StopDate}
}

func (m *engineMapRuns) EndMapRun(arn string, end MapRunEnd) {
	if mr := m.find(arn); mr != nil {
		mr.End = end
	}
}
