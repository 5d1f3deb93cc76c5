package sfnlocal

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// StateMachine is a parsed, validated definition, compiled so that running it does no
// parsing: paths, payload templates, intrinsic calls and choice rules are prepared once.
type StateMachine struct {
	StartAt        string
	Comment        string
	TimeoutSeconds int // 0: none
	Version        string

	root        *scope
	definition  []byte
	usesContext bool // some state refers to $$: runs build it

	// historyLen is the length of the last run's history: the next run's history starts with
	// that capacity instead of growing to it.
	historyLen atomic.Int32
}

// Definition returns the definition the machine was parsed from.
func (sm *StateMachine) Definition() []byte { return append([]byte(nil), sm.definition...) }

// StateNames returns the names of the top-level states, sorted.
func (sm *StateMachine) StateNames() []string { return append([]string(nil), sm.root.order...) }

type scope struct {
	startAt string
	states  map[string]*state
	order   []string
}

// ioPath is InputPath/OutputPath: absent means $, null means {}.
type ioPath struct {
	null bool
	path *jsonPath // nil with null false: $
}

// resultPathSpec is ResultPath: absent means $ (the result replaces the input), null
// discards the result.
type resultPathSpec struct {
	discard bool
	path    *referencePath // nil: $
}

type state struct {
	name, typ                 string
	enteredEvent, exitedEvent string // "<Type>StateEntered", "<Type>StateExited"
	next                      string
	end                       bool

	// usesContext: the state refers to $$ somewhere, so the engine builds the context object
	// for it (most states do not, and building it for every state costs).
	usesContext bool
	// usesStateContext: it refers to more than $$.Execution and $$.StateMachine (which are
	// the same for every state and can be shared).
	usesStateContext bool
	// passthrough: the state's output is its input unchanged (no paths, Parameters or Result
	// alter it), so the input's JSON text serves as the output's.
	passthrough bool
	// spliceKey: ResultPath is "$.<spliceKey>", a plain top-level member name, so the output
	// text can be spliced from the input text (see splicedText).
	spliceKey string

	inputPath, outputPath ioPath
	resultPath            resultPathSpec
	parameters            *payloadTemplate
	resultSelector        *payloadTemplate

	// Pass
	result    any
	hasResult bool

	// Task
	resource         string
	kind             taskKind // which history events the task records
	resourceType     string   // else: AWS's resourceType/resource split of the ARN
	resourceName     string
	timeoutSeconds   int
	timeoutPath      *jsonPath
	heartbeatSeconds int
	heartbeatPath    *jsonPath
	retry            []*retrier
	catch            []*catcher

	// Choice
	choices     []*choiceRule
	defaultNext string

	// Wait
	waitSeconds       int
	hasWaitSeconds    bool
	waitTimestamp     time.Time
	hasWaitTimestamp  bool
	waitSecondsPath   *jsonPath
	waitTimestampPath *jsonPath

	// Fail
	errorName, cause     string
	errorPath, causePath *valueSource

	// Parallel
	branches []*scope

	// Map
	itemsPath          *jsonPath
	itemSelector       *payloadTemplate
	processor          *scope
	maxConcurrency     int
	maxConcurrencyPath *jsonPath
	toleratedPct       float64
	hasToleratedPct    bool
	toleratedPctPath   *jsonPath
	toleratedCount     int
	hasToleratedCount  bool
	toleratedCountPath *jsonPath

	// Distributed Map (see parse_map.go)
	distributed  bool
	label        string
	child        *StateMachine // the ItemProcessor, run as each item's child execution
	itemReader   *itemReaderSpec
	resultWriter *payloadTemplate // ResultWriter.Parameters (Bucket, Prefix)
}

// ParseError says which state and field of a definition is wrong.
type ParseError struct {
	State string // "" for top-level fields
	Field string
	Msg   string
	// Pointer is set for the errors AWS's own schema validation raises: the JSON pointer of
	// the object at fault (/States/A/ItemProcessor/States/B), as AWS's message ends.
	Pointer string
}

// AWSMessage is the error as CreateStateMachine words it for a schema violation:
// "SCHEMA_VALIDATION_FAILED: <what> at <pointer>" — the shape AWS recorded in
// localstack/localstack tests/aws/services/stepfunctions/v2/test_sfn_api_validation.snapshot.json
// and .../v2/scenarios/test_base_scenarios.snapshot.json (e.g. "SCHEMA_VALIDATION_FAILED:
// Value cannot be empty at /States/StateName/Branches"). "" when Pointer is unset.
func (e *ParseError) AWSMessage() string {
	if e.Pointer == "" {
		return ""
	}
	return "SCHEMA_VALIDATION_FAILED: " + e.Msg + " at " + e.Pointer
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("invalid state machine definition: ")
	if e.State != "" {
		fmt.Fprintf(&b, "state %q: ", e.State)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, "field %s: ", e.Field)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Parse validates and compiles a definition. Its error names the state and field at fault.
func Parse(definition []byte) (*StateMachine, error) {
	var top any
	if err := json.Unmarshal(definition, &top); err != nil {
		return nil, &ParseError{Msg: fmt.Sprintf("not valid JSON: %v", err)}
	}
	m, ok := top.(map[string]any)
	if !ok {
		return nil, &ParseError{Msg: "the definition must be a JSON object"}
	}
	sm := &StateMachine{definition: append([]byte(nil), definition...)}
	p := &parser{}
	if err := p.allowed("", m, "top level", "Comment", "StartAt", "States", "TimeoutSeconds", "Version", "QueryLanguage"); err != nil {
		return nil, err
	}
	if ql, ok := m["QueryLanguage"]; ok && ql != "JSONPath" {
		return nil, &ParseError{Field: "QueryLanguage", Msg: fmt.Sprintf("%v is not supported: the local engine runs JSONPath definitions only", ql)}
	}
	sm.Comment, _ = m["Comment"].(string)
	sm.Version, _ = m["Version"].(string)
	if v, ok := m["TimeoutSeconds"]; ok {
		n, err := positiveInt(v)
		if err != nil {
			return nil, &ParseError{Field: "TimeoutSeconds", Msg: err.Error()}
		}
		sm.TimeoutSeconds = n
	}
	root, err := p.scope(m, "")
	if err != nil {
		return nil, err
	}
	sm.root = root
	sm.StartAt = root.startAt
	sm.usesContext = p.usesContext
	return sm, nil
}

type parser struct {
	usesContext bool // some state refers to $$
	// ptr is the JSON pointer of the scope being parsed ("" for the machine,
	// "/States/M/ItemProcessor" inside Map M), for AWS-shaped schema errors.
	ptr string
}

func (p *parser) allowed(stateName string, m map[string]any, what string, fields ...string) error {
	for k := range m {
		found := false
		for _, f := range fields {
			if f == k {
				found = true
				break
			}
		}
		if !found {
			return &ParseError{State: stateName, Field: k, Msg: fmt.Sprintf("is not a field of %s (allowed: %s)", what, strings.Join(fields, ", "))}
		}
	}
	return nil
}

// scope parses a StartAt/States pair (the machine, a Parallel branch or a Map processor).
// owner names the enclosing state for error messages.
func (p *parser) scope(m map[string]any, owner string) (*scope, error) {
	where := func(f string) string {
		if owner == "" {
			return f
		}
		return owner + "." + f
	}
	startAt, ok := m["StartAt"].(string)
	if !ok || startAt == "" {
		return nil, &ParseError{State: owner, Field: where("StartAt"), Msg: "is missing (name the first state)"}
	}
	rawStates, ok := m["States"].(map[string]any)
	if !ok || len(rawStates) == 0 {
		return nil, &ParseError{State: owner, Field: where("States"), Msg: "is missing or empty (an object of named states)"}
	}
	sc := &scope{startAt: startAt, states: map[string]*state{}}
	for name := range rawStates {
		sc.order = append(sc.order, name)
	}
	sort.Strings(sc.order)
	for _, name := range sc.order {
		if len(name) > 80 {
			return nil, &ParseError{State: name, Msg: "state names are limited to 80 characters"}
		}
		sm, ok := rawStates[name].(map[string]any)
		if !ok {
			return nil, &ParseError{State: name, Msg: "must be a JSON object"}
		}
		outer := p.ptr
		st, err := p.state(name, sm)
		p.ptr = outer
		if err != nil {
			return nil, err
		}
		sc.states[name] = st
	}
	if _, ok := sc.states[startAt]; !ok {
		return nil, &ParseError{State: owner, Field: where("StartAt"), Msg: fmt.Sprintf("%q names no state in States", startAt)}
	}
	if err := sc.checkTransitions(); err != nil {
		return nil, err
	}
	return sc, nil
}

func (sc *scope) targets(st *state) []struct{ field, to string } {
	var out []struct{ field, to string }
	add := func(f, to string) {
		if to != "" {
			out = append(out, struct{ field, to string }{f, to})
		}
	}
	add("Next", st.next)
	add("Default", st.defaultNext)
	for i, c := range st.choices {
		add(fmt.Sprintf("Choices[%d].Next", i), c.next)
	}
	for i, c := range st.catch {
		add(fmt.Sprintf("Catch[%d].Next", i), c.next)
	}
	return out
}

func (sc *scope) checkTransitions() error {
	for _, name := range sc.order {
		for _, t := range sc.targets(sc.states[name]) {
			if _, ok := sc.states[t.to]; !ok {
				return &ParseError{State: name, Field: t.field, Msg: fmt.Sprintf("%q names no state in this scope", t.to)}
			}
		}
	}
	reached := map[string]bool{sc.startAt: true}
	queue := []string{sc.startAt}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, t := range sc.targets(sc.states[n]) {
			if !reached[t.to] {
				reached[t.to] = true
				queue = append(queue, t.to)
			}
		}
	}
	for _, name := range sc.order {
		if !reached[name] {
			return &ParseError{State: name, Msg: "is not reachable from StartAt " + fmt.Sprintf("%q", sc.startAt)}
		}
	}
	// Every state must be able to reach an end, or executions could never finish.
	canEnd := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, name := range sc.order {
			if canEnd[name] {
				continue
			}
			st := sc.states[name]
			ok := st.end || st.typ == "Succeed" || st.typ == "Fail"
			for _, t := range sc.targets(st) {
				ok = ok || canEnd[t.to]
			}
			if ok {
				canEnd[name] = true
				changed = true
			}
		}
	}
	for _, name := range sc.order {
		if !canEnd[name] {
			return &ParseError{State: name, Msg: "no path from this state reaches an end (End: true, a Succeed or a Fail state)"}
		}
	}
	return nil
}

var stateFields = map[string][]string{
	"Pass":     {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "Result"},
	"Task":     {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Retry", "Catch", "Credentials"},
	"Choice":   {"InputPath", "OutputPath", "Choices", "Default"},
	"Wait":     {"Next", "End", "InputPath", "OutputPath", "Seconds", "SecondsPath", "Timestamp", "TimestampPath"},
	"Succeed":  {"InputPath", "OutputPath"},
	"Fail":     {"Error", "ErrorPath", "Cause", "CausePath"},
	"Parallel": {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Branches", "Retry", "Catch"},
	"Map":      {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "ItemsPath", "ItemSelector", "ItemProcessor", "Iterator", "MaxConcurrency", "MaxConcurrencyPath", "ToleratedFailurePercentage", "ToleratedFailurePercentagePath", "ToleratedFailureCount", "ToleratedFailureCountPath", "Retry", "Catch", "Label", "ItemReader", "ItemBatcher", "ResultWriter"},
}

func (p *parser) state(name string, m map[string]any) (*state, error) {
	perr := func(field, format string, a ...any) error {
		return &ParseError{State: name, Field: field, Msg: fmt.Sprintf(format, a...)}
	}
	typ, ok := m["Type"].(string)
	if !ok {
		return nil, perr("Type", "is missing (one of Task, Pass, Choice, Wait, Succeed, Fail, Parallel, Map)")
	}
	fields, ok := stateFields[typ]
	if !ok {
		return nil, perr("Type", "%q is not a state type (one of Task, Pass, Choice, Wait, Succeed, Fail, Parallel, Map)", typ)
	}
	for _, unsupported := range []string{"Assign", "Arguments", "Output"} {
		if _, ok := m[unsupported]; ok {
			return nil, perr(unsupported, "variables and JSONata fields are not supported by the local engine (JSONPath mode without Assign)")
		}
	}
	statePtr := p.ptr + "/States/" + name
	if err := p.allowed(name, m, "a "+typ+" state", append([]string{"Type", "Comment"}, fields...)...); err != nil {
		return nil, err
	}
	st := &state{name: name, typ: typ}
	st.enteredEvent, st.exitedEvent = stateEventTypes(typ)
	st.usesContext, st.usesStateContext = contextUse(encodeJSON(m))
	if typ == "Task" && strings.HasSuffix(fmt.Sprint(m["Resource"]), ".waitForTaskToken") {
		st.usesContext, st.usesStateContext = true, true
	}
	p.usesContext = p.usesContext || st.usesContext

	// Transitions.
	next, hasNext := m["Next"]
	end, hasEnd := m["End"]
	switch typ {
	case "Choice", "Succeed", "Fail":
	default:
		if hasNext {
			s, ok := next.(string)
			if !ok || s == "" {
				return nil, perr("Next", "must be a state name")
			}
			st.next = s
		}
		if hasEnd {
			b, ok := end.(bool)
			if !ok {
				return nil, perr("End", "must be a boolean")
			}
			st.end = b
		}
		if st.next != "" && st.end {
			return nil, perr("Next", "a state cannot have both Next and End: true")
		}
		if st.next == "" && !st.end {
			return nil, perr("Next", "is missing: a %s state needs Next or End: true", typ)
		}
	}

	var err error
	if st.inputPath, err = p.ioPath(name, m, "InputPath"); err != nil {
		return nil, err
	}
	if st.outputPath, err = p.ioPath(name, m, "OutputPath"); err != nil {
		return nil, err
	}
	if v, ok := m["ResultPath"]; ok {
		if st.resultPath, err = resultPathOf(v); err != nil {
			return nil, perr("ResultPath", "%v", err)
		}
	}
	if v, ok := m["Parameters"]; ok {
		if st.parameters, err = compileTemplate(v, "Parameters"); err != nil {
			return nil, perr("Parameters", "%v", err)
		}
	}
	if v, ok := m["ResultSelector"]; ok {
		if st.resultSelector, err = compileTemplate(v, "ResultSelector"); err != nil {
			return nil, perr("ResultSelector", "%v", err)
		}
	}
	if st.retry, err = p.retriers(name, m); err != nil {
		return nil, err
	}
	if st.catch, err = p.catchers(name, m); err != nil {
		return nil, err
	}

	if err := p.byType(st, m, statePtr); err != nil {
		return nil, err
	}
	if rp := st.resultPath.path; rp != nil && len(rp.segs) == 1 && rp.segs[0].kind == segName && plainMemberName(rp.segs[0].name) {
		st.spliceKey = rp.segs[0].name
	}
	plainIO := st.inputPath == (ioPath{}) && st.outputPath == (ioPath{})
	switch typ {
	case "Choice", "Succeed", "Wait":
		st.passthrough = plainIO
	case "Pass":
		st.passthrough = plainIO && st.parameters == nil && !st.hasResult && st.resultPath.path == nil
	}
	return st, nil
}

// byType parses the fields particular to st's type; parse_<type>.go holds each, as
// <type>.go holds its execution.
func (p *parser) byType(st *state, m map[string]any, statePtr string) error {
	switch st.typ {
	case "Pass":
		st.result, st.hasResult = m["Result"]
	case "Task":
		return p.task(st, m)
	case "Choice":
		return p.choice(st, m)
	case "Wait":
		return p.wait(st, m)
	case "Fail":
		return p.fail(st, m)
	case "Parallel":
		return p.parallel(st, m, statePtr)
	case "Map":
		return p.mapState(st, m, statePtr)
	}
	return nil
}

// fieldError is a ParseError at one field of st.
func (st *state) fieldError(field, format string, a ...any) error {
	return &ParseError{State: st.name, Field: field, Msg: fmt.Sprintf(format, a...)}
}

func (p *parser) exclusive(name string, m map[string]any, a, b string) error {
	_, hasA := m[a]
	_, hasB := m[b]
	if hasA && hasB {
		return &ParseError{State: name, Field: a, Msg: fmt.Sprintf("cannot be used together with %s", b)}
	}
	return nil
}

func (p *parser) ioPath(name string, m map[string]any, field string) (ioPath, error) {
	v, ok := m[field]
	if !ok {
		return ioPath{}, nil
	}
	if v == nil {
		return ioPath{null: true}, nil
	}
	s, ok := v.(string)
	if !ok {
		return ioPath{}, &ParseError{State: name, Field: field, Msg: "must be a path string or null"}
	}
	path, err := compilePath(s)
	if err != nil {
		return ioPath{}, &ParseError{State: name, Field: field, Msg: err.Error()}
	}
	return ioPath{path: path}, nil
}

func resultPathOf(v any) (resultPathSpec, error) {
	if v == nil {
		return resultPathSpec{discard: true}, nil
	}
	s, ok := v.(string)
	if !ok {
		return resultPathSpec{}, errors.New("must be a reference path string or null")
	}
	if s == "$" {
		return resultPathSpec{}, nil
	}
	rp, err := compileReferencePath(s)
	if err != nil {
		return resultPathSpec{}, err
	}
	return resultPathSpec{path: rp}, nil
}

func (p *parser) path(name string, m map[string]any, field string) (*jsonPath, error) {
	s, ok := m[field].(string)
	if !ok {
		return nil, &ParseError{State: name, Field: field, Msg: "must be a path string"}
	}
	path, err := compilePath(s)
	if err != nil {
		return nil, &ParseError{State: name, Field: field, Msg: err.Error()}
	}
	return path, nil
}

// pathOrIntrinsic accepts ErrorPath/CausePath: a path, or an intrinsic function that the
// Fail state evaluates (wrapped as a path-like call).
func (p *parser) pathOrIntrinsic(name string, m map[string]any, field string) (*valueSource, error) {
	s, ok := m[field].(string)
	if !ok {
		return nil, &ParseError{State: name, Field: field, Msg: "must be a path string"}
	}
	if isIntrinsic(s) {
		c, err := compileIntrinsic(s)
		if err != nil {
			return nil, &ParseError{State: name, Field: field, Msg: err.Error()}
		}
		return &valueSource{raw: s, call: c}, nil
	}
	path, err := p.path(name, m, field)
	if err != nil {
		return nil, err
	}
	return &valueSource{raw: s, path: path}, nil
}

// valueSource is a field whose value comes from a path or an intrinsic function.
type valueSource struct {
	raw  string
	path *jsonPath
	call *intrinsicCall
}

// intOrPath reads field or field+"Path" (at most one may be given): a whole number in
// [least, 99999999], or the path that gives it at run time.
func (p *parser) intOrPath(name string, m map[string]any, field string, least int) (int, *jsonPath, error) {
	if err := p.exclusive(name, m, field, field+"Path"); err != nil {
		return 0, nil, err
	}
	if v, ok := m[field]; ok {
		n, err := boundedInt(v, least)
		if err != nil {
			return 0, nil, &ParseError{State: name, Field: field, Msg: err.Error()}
		}
		return n, nil, nil
	}
	if _, ok := m[field+"Path"]; ok {
		path, err := p.path(name, m, field+"Path")
		return 0, path, err
	}
	return 0, nil, nil
}

func positiveInt(v any) (int, error)    { return boundedInt(v, 1) }
func nonNegativeInt(v any) (int, error) { return boundedInt(v, 0) }

// boundedInt is v as a whole number in [least, 99999999], the range of the ASL's counts and
// seconds.
func boundedInt(v any, least int) (int, error) {
	f, ok := v.(float64)
	if !ok || !isInteger(f) || f < float64(least) || f > 99999999 {
		kind := "positive"
		if least == 0 {
			kind = "non-negative"
		}
		return 0, fmt.Errorf("must be a %s integer (at most 99999999), got %s", kind, encodeJSON(v))
	}
	return int(f), nil
}

func parseTimestamp(s string) (time.Time, error) {
	// AWS requires an uppercase T and Z (or an offset); time.RFC3339 accepts fractions too.
	if !strings.Contains(s, "T") {
		return time.Time{}, errors.New("not a timestamp")
	}
	return time.Parse(time.RFC3339Nano, s)
}

// contextUse reports whether a state's definition text refers to the context object at all,
// and whether to anything beyond $$.Execution and $$.StateMachine.
func contextUse(def string) (uses, beyondExecution bool) {
	for i := strings.Index(def, "$$"); i >= 0; {
		uses = true
		rest := def[i+2:]
		if !strings.HasPrefix(rest, ".Execution") && !strings.HasPrefix(rest, ".StateMachine") {
			return true, true
		}
		j := strings.Index(rest, "$$")
		if j < 0 {
			break
		}
		i = i + 2 + j
	}
	return uses, false
}
