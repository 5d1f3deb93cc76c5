// Package aslrules checks Step Functions definitions against rules AWS enforces or documents but
// neither asl-validator nor AWS's language service checks: fields AWS documents for Distributed
// Map only, used on an INLINE Map; error names a resource kind never raises in Retry/Catch;
// MaxConcurrency above what the Map's mode runs; and a quota budget (worst-case history events
// and largest state payload for a fleet at IAM's per-account user maximum).
package aslrules

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/keyrotor/keyrotor/internal/fleet"
)

// AWS figures the rules hold definitions to.
const (
	// FleetUsers is IAM's default quota of users per account
	// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
	FleetUsers = 5000
	// MaxHistoryEvents is Step Functions' execution history quota for a Standard workflow
	// (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html).
	MaxHistoryEvents = 25000
	// MaxPayloadBytes is the state input/output quota: 256 KiB
	// (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html).
	MaxPayloadBytes = 256 * 1024
	// InlineMaxConcurrency: "In this mode, the Map state supports up to 40 concurrent iterations"
	// (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html).
	InlineMaxConcurrency = 40
	// DistributedMaxConcurrency: a Distributed Map runs up to 10,000 child workflows at once
	// (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html).
	DistributedMaxConcurrency = 10000
)

// Problem is one rule a definition breaks, at a state (its path through Map/Parallel bodies).
type Problem struct {
	Rule  string // distributed-only, error-name, max-concurrency, history-budget, payload-budget, loop-bound
	State string
	Msg   string
}

func (p Problem) String() string {
	if p.State == "" {
		return fmt.Sprintf("%s: %s", p.Rule, p.Msg)
	}
	return fmt.Sprintf("%s: state %s: %s", p.Rule, p.State, p.Msg)
}

// Report is the result of checking one definition.
type Report struct {
	Problems []Problem
	// Events is the worst-case number of history events of one execution for a fleet of
	// FleetUsers users; Payload the largest state payload (bytes) the model finds.
	Events, Payload int
}

// state is the part of an ASL state the rules read.
type state struct {
	Type           string           `json:"Type"`
	Resource       string           `json:"Resource"`
	Next           string           `json:"Next"`
	Default        string           `json:"Default"`
	Choices        []choice         `json:"Choices"`
	Retry          []retrier        `json:"Retry"`
	Catch          []catcher        `json:"Catch"`
	ResultPath     *json.RawMessage `json:"ResultPath"`
	MaxConcurrency *int             `json:"MaxConcurrency"`
	ItemProcessor  *machine         `json:"ItemProcessor"`
	Iterator       *machine         `json:"Iterator"`
	Branches       []machine        `json:"Branches"`
	ItemBatcher    json.RawMessage  `json:"ItemBatcher"`
	ItemReader     json.RawMessage  `json:"ItemReader"`
	ResultWriter   json.RawMessage  `json:"ResultWriter"`
	fields         map[string]json.RawMessage
}

type choice struct {
	Next string `json:"Next"`
}
type retrier struct {
	ErrorEquals []string `json:"ErrorEquals"`
	MaxAttempts *int     `json:"MaxAttempts"`
}
type catcher struct {
	ErrorEquals []string `json:"ErrorEquals"`
	Next        string   `json:"Next"`
}

type machine struct {
	StartAt         string            `json:"StartAt"`
	States          map[string]*state `json:"States"`
	ProcessorConfig struct {
		Mode string `json:"Mode"`
	} `json:"ProcessorConfig"`
}

func (s *state) UnmarshalJSON(b []byte) error {
	type plain state
	if err := json.Unmarshal(b, (*plain)(s)); err != nil {
		return err
	}
	return json.Unmarshal(b, &s.fields)
}

// Options are what the budget cannot read from a definition.
type Options struct {
	// LoopBounds caps how often a state may be entered in one execution, for states on a cycle.
	// A cycle through a state without a bound is a problem: its history has no worst case.
	LoopBounds map[string]Bound
}

// Bound is a loop bound and where it comes from.
type Bound struct {
	Visits int
	Why    string
}

// KeyrotorLoops are the loops keyrotor's definitions have, and what bounds them.
var KeyrotorLoops = map[string]Bound{
	// rotate.asl.json: DeactivateOldKeys → StillInUse → ExtendGrace → DeactivateOldKeys; the
	// deleteoldkeys Lambda allows at most 3 extensions (statemachine/README.md).
	"DeactivateOldKeys": {4, "deleteoldkeys allows at most 3 grace extensions"},
	"StillInUse":        {4, "deleteoldkeys allows at most 3 grace extensions"},
	"ExtendGrace":       {3, "deleteoldkeys allows at most 3 grace extensions"},
	// rotate-fleet.asl.json: ListManagedUsers reads the first page, then MoreUsers → ListMoreUsers
	// → MoreUsers one page of ListUsers (MaxItems 100) per call (docs/steps.md): 5,000 users are
	// 50 pages, so at most 49 more. A fleet over up to 20 member accounts reads a page of each
	// in every call, so its bound is its largest account's pages, the same 50 (plus one call
	// per page a throttled account reads again, internal/fleet fleet.go: a few, not counted).
	"ListMoreUsers": {(FleetUsers+99)/100 - 1, "listusers reads 100 users a call"},
	"MoreUsers":     {(FleetUsers + 99) / 100, "listusers reads 100 users a call"},
	// rotate-fleet.asl.json's child: AwaitCutOver → CutOverYet → WaitForCutOver → AwaitCutOver
	// until the rotation is verified; listusers gives up after fleet.MaxCutOverChecks.
	"AwaitCutOver":   {fleet.MaxCutOverChecks, "listusers' cutover action answers failed (CutOverNotSeen) at its 240th check"},
	"CutOverYet":     {fleet.MaxCutOverChecks, "listusers' cutover action answers failed (CutOverNotSeen) at its 240th check"},
	"WaitForCutOver": {fleet.MaxCutOverChecks - 1, "listusers' cutover action answers failed (CutOverNotSeen) at its 240th check"},
}

// Check applies every rule to one definition (placeholders already filled).
func Check(def []byte, opts Options) (Report, error) {
	var m machine
	if err := json.Unmarshal(def, &m); err != nil {
		return Report{}, fmt.Errorf("definition is not an ASL JSON document: %w", err)
	}
	if m.States == nil || m.States[m.StartAt] == nil {
		return Report{}, fmt.Errorf("definition has no state %q to start at", m.StartAt)
	}
	c := &checker{opts: opts}
	c.walk(&m, "")
	ev := c.events(&m, "")
	rep := Report{Events: 2 + ev, Payload: c.payload(&m)} // + ExecutionStarted and its end event
	if rep.Events > MaxHistoryEvents {
		c.add("history-budget", "", fmt.Sprintf("worst case %d history events for a fleet of %d users, over the quota of %d (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html): run the per-user work outside this execution's history (a Distributed Map's child executions)", rep.Events, FleetUsers, MaxHistoryEvents))
	}
	if rep.Payload > MaxPayloadBytes {
		c.add("payload-budget", "", fmt.Sprintf("worst case %d bytes of state for a fleet of %d users, over the %d-byte payload quota (States.DataLimitExceeded, which no Catch handles): read items with an ItemReader and write results with a ResultWriter instead of carrying them in the state", rep.Payload, FleetUsers, MaxPayloadBytes))
	}
	rep.Problems = c.problems
	return rep, nil
}

type checker struct {
	opts     Options
	problems []Problem
	seen     map[string]bool
}

func (c *checker) add(rule, st, msg string) {
	p := Problem{Rule: rule, State: st, Msg: msg}
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	if !c.seen[p.String()] {
		c.seen[p.String()] = true
		c.problems = append(c.problems, p)
	}
}

func sortedNames(m map[string]*state) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (s *state) body() *machine {
	if s.ItemProcessor != nil {
		return s.ItemProcessor
	}
	return s.Iterator
}

func (s *state) distributed() bool {
	b := s.body()
	return b != nil && strings.EqualFold(b.ProcessorConfig.Mode, "DISTRIBUTED")
}

// distributedOnly are the Map fields AWS documents for Distributed mode only
// (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html; the Inline
// Map's field list, https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html,
// has none of them).
var distributedOnly = []string{"ItemReader", "ItemBatcher", "ResultWriter", "Label",
	"ToleratedFailureCount", "ToleratedFailureCountPath", "ToleratedFailurePercentage", "ToleratedFailurePercentagePath"}

// walk applies the per-state rules to every state, nested ones included.
func (c *checker) walk(m *machine, prefix string) {
	for _, name := range sortedNames(m.States) {
		s, where := m.States[name], prefix+name
		c.errorNames(s, where)
		switch s.Type {
		case "Map":
			if !s.distributed() {
				for _, f := range distributedOnly {
					if _, ok := s.fields[f]; ok {
						c.add("distributed-only", where, fmt.Sprintf("%s is a Distributed Map field; on an INLINE Map AWS refuses or ignores it (state-map-distributed.html): set ItemProcessor.ProcessorConfig.Mode to DISTRIBUTED or drop %s", f, f))
					}
				}
			}
			if s.MaxConcurrency != nil {
				limit, mode := InlineMaxConcurrency, "an INLINE Map runs at most 40 iterations at once (state-map-inline.html)"
				if s.distributed() {
					limit, mode = DistributedMaxConcurrency, "a Distributed Map runs at most 10,000 child workflows at once (state-map-distributed.html)"
				}
				if *s.MaxConcurrency > limit {
					c.add("max-concurrency", where, fmt.Sprintf("MaxConcurrency %d: %s", *s.MaxConcurrency, mode))
				}
			}
			if b := s.body(); b != nil {
				c.walk(b, where+"/")
				// A Distributed Map's iterations are child executions, each with its own history.
				if s.distributed() {
					if n := 2 + c.events(b, where+"/"); n > MaxHistoryEvents {
						c.add("history-budget", where, fmt.Sprintf("a child execution's worst case is %d history events, over the quota of %d", n, MaxHistoryEvents))
					}
				}
			}
		case "Parallel":
			for i := range s.Branches {
				c.walk(&s.Branches[i], fmt.Sprintf("%s[%d]/", where, i))
			}
		}
	}
}

// statesErrors are the error names the States language defines
// (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).
var statesErrors = []string{"States.ALL", "States.DataLimitExceeded", "States.ExceedToleratedFailureThreshold",
	"States.HeartbeatTimeout", "States.Http.Socket", "States.IntrinsicFailure", "States.ItemReaderFailed",
	"States.NoChoiceMatched", "States.ParameterPathFailure", "States.Permissions", "States.QueryEvaluationError",
	"States.ResultPathMatchFailure", "States.ResultWriterFailed", "States.Runtime", "States.TaskFailed",
	"States.Timeout", "States.BranchFailed"}

// lambdaErrors are the Lambda.* names a Lambda Task raises: the Invoke API's errors
// (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_Errors) with the
// Java SDK's names Step Functions reports (Lambda.ServiceException, Lambda.AWSLambdaException,
// Lambda.SdkClientException, Lambda.ClientExecutionTimeoutException:
// https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html), and
// Lambda.Unknown for an error without a name (same page). A function's own errors carry any name
// its runtime gives (errorType; Runtime.*, Sandbox.Timedout), so names without a service prefix
// are allowed on Lambda Tasks.
var lambdaErrors = []string{"Lambda.AWSLambdaException", "Lambda.ClientExecutionTimeoutException",
	"Lambda.SdkClientException", "Lambda.ServiceException", "Lambda.TooManyRequestsException", "Lambda.Unknown",
	"Lambda.CodeStorageExceededException", "Lambda.EC2AccessDeniedException", "Lambda.EC2ThrottledException",
	"Lambda.EC2UnexpectedException", "Lambda.EFSIOException", "Lambda.EFSMountConnectivityException",
	"Lambda.EFSMountFailureException", "Lambda.EFSMountTimeoutException", "Lambda.ENILimitReachedException",
	"Lambda.InvalidParameterValueException", "Lambda.InvalidRequestContentException", "Lambda.InvalidRuntimeException",
	"Lambda.InvalidSecurityGroupIDException", "Lambda.InvalidSubnetIDException", "Lambda.InvalidZipFileException",
	"Lambda.KMSAccessDeniedException", "Lambda.KMSDisabledException", "Lambda.KMSInvalidStateException",
	"Lambda.KMSNotFoundException", "Lambda.RecursiveInvocationException", "Lambda.RequestTooLargeException",
	"Lambda.ResourceConflictException", "Lambda.ResourceNotFoundException", "Lambda.ResourceNotReadyException",
	"Lambda.SnapStartException", "Lambda.SnapStartNotReadyException", "Lambda.SnapStartTimeoutException",
	"Lambda.SubnetIPAddressLimitReachedException", "Lambda.UnsupportedMediaTypeException"}

// startExecutionErrors are StartExecution's API errors
// (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html#API_StartExecution_Errors)
// and the service's base exception, as the optimized integration raises them: prefixed
// "StepFunctions.". AWS documents the bare API name (StepFunctions.ExecutionLimitExceeded,
// https://docs.aws.amazon.com/step-functions/latest/dg/concepts-nested-workflows.html), while
// AWS's recorded startExecution failure names the Java SDK class, with an Exception suffix:
// StepFunctions.StateMachineDoesNotExistException (localstack/localstack
// tests/aws/services/stepfunctions/v2/error_handling/test_task_service_sfn.snapshot.json,
// test_start_execution_no_such_arn). ErrorEquals matches exactly, so a retrier must name both
// forms to match whichever AWS raises; errorNames checks that both are there.
var startExecutionErrors = []string{"ExecutionAlreadyExists", "ExecutionLimitExceeded", "InvalidArn",
	"InvalidExecutionInput", "InvalidName", "KmsAccessDenied", "KmsInvalidState", "KmsThrottling",
	"StateMachineDeleting", "StateMachineDoesNotExist", "ValidationException", "AWSStepFunctionsException",
	"ThrottlingException", "SdkClientException"}

type resourceKind int

const (
	kindOther resourceKind = iota
	kindLambda
	kindStartExecution
)

func kindOf(resource string) resourceKind {
	switch {
	case strings.HasPrefix(resource, "arn:aws:lambda:") && strings.Contains(resource, ":function:"),
		strings.HasPrefix(resource, "arn:aws:states:::lambda:invoke"):
		return kindLambda
	case strings.HasPrefix(resource, "arn:aws:states:::states:startExecution"):
		return kindStartExecution
	}
	return kindOther
}

func (c *checker) errorNames(s *state, where string) {
	type use struct{ field, name string }
	var uses []use
	for _, r := range s.Retry {
		for _, e := range r.ErrorEquals {
			uses = append(uses, use{"Retry", e})
		}
	}
	for _, k := range s.Catch {
		for _, e := range k.ErrorEquals {
			uses = append(uses, use{"Catch", e})
		}
	}
	kind := kindOf(s.Resource)
	named := map[string]bool{}
	for _, u := range uses {
		named[u.name] = true
	}
	for _, u := range uses {
		e := u.name
		prefix, _, dotted := strings.Cut(e, ".")
		switch {
		case prefix == "States":
			if !slices.Contains(statesErrors, e) {
				c.add("error-name", where, fmt.Sprintf("%s %s: not an error the States language defines (concepts-error-handling.html)", u.field, e))
			} else if e == "States.ExceedToleratedFailureThreshold" && !(s.Type == "Map" && s.distributed()) {
				c.add("error-name", where, fmt.Sprintf("%s %s: only a Distributed Map with a tolerated failure threshold raises it; an INLINE Map fails on its first failed iteration (state-map-distributed.html)", u.field, e))
			}
		case s.Type != "Task":
			// Map and Parallel pass on whatever their states raise.
		case kind == kindLambda:
			if prefix == "Lambda" && !slices.Contains(lambdaErrors, e) {
				c.add("error-name", where, fmt.Sprintf("%s %s: Lambda raises no such error (API_Invoke errors, bp-lambda-serviceexception.html)", u.field, e))
			} else if dotted && !slices.Contains([]string{"Lambda", "Runtime", "Sandbox"}, prefix) {
				c.add("error-name", where, fmt.Sprintf("%s %s: a Lambda Task never raises another service's errors", u.field, e))
			}
		case kind == kindStartExecution:
			rest, ok := strings.CutPrefix(e, "StepFunctions.")
			base := strings.TrimSuffix(rest, "Exception")
			switch {
			case !ok:
				c.add("error-name", where, fmt.Sprintf("%s %s: a startExecution Task raises only States.* and StepFunctions.* errors (a failed child is States.TaskFailed)", u.field, e))
			case !slices.Contains(startExecutionErrors, rest) && !slices.Contains(startExecutionErrors, base):
				c.add("error-name", where, fmt.Sprintf("%s %s: StartExecution raises no such error (API_StartExecution errors)", u.field, e))
			case rest != base && !named["StepFunctions."+base] && slices.Contains(startExecutionErrors, base):
				c.add("error-name", where, fmt.Sprintf("%s %s without StepFunctions.%s, the name AWS documents (concepts-nested-workflows.html); AWS's recording names the Exception form (localstack test_task_service_sfn.snapshot.json): list both", u.field, e, base))
			case rest == base && !strings.HasSuffix(rest, "Exception") && !named[e+"Exception"]:
				c.add("error-name", where, fmt.Sprintf("%s %s without %sException, the form AWS was recorded raising (localstack test_task_service_sfn.snapshot.json: StepFunctions.StateMachineDoesNotExistException): list both", u.field, e, e))
			}
		}
	}
}

// Events per state, from AWS's recorded history shapes (localstack/localstack
// tests/aws/services/stepfunctions/v2/scenarios/test_base_scenarios.snapshot.json):
// Pass/Choice/Wait/Succeed: Entered, Exited. Fail: Entered (then ExecutionFailed).
// Lambda Task: TaskStateEntered, Scheduled, Started, Succeeded, TaskStateExited; each failed
// attempt Scheduled, Started, Failed (test_lambda_invoke_with_retry_base). Other Tasks add
// TaskSubmitted. Inline Map: MapStateEntered, MapStateStarted, per item MapIterationStarted …
// MapIterationSucceeded, MapStateSucceeded, MapStateExited (test_map_state_break_condition).
// Distributed Map: MapStateEntered, MapStateStarted, MapRunStarted, MapRunSucceeded,
// MapStateSucceeded, MapStateExited, whatever the item count: the iterations are child
// executions with histories of their own (test_map_state_config_distributed_*).
// Parallel: Entered, Started, branches, Succeeded, Exited.
func (c *checker) stateEvents(s *state, where string) int {
	switch s.Type {
	case "Fail":
		return 1
	case "Task":
		success, attempt := 5, 3
		if kindOf(s.Resource) != kindLambda {
			success, attempt = 6, 4
		}
		retries := 0
		for _, r := range s.Retry {
			n := 3 // AWS's default MaxAttempts
			if r.MaxAttempts != nil {
				n = *r.MaxAttempts
			}
			retries += n
		}
		return success + retries*attempt
	case "Map":
		if s.distributed() {
			return 6
		}
		per := 0
		if b := s.body(); b != nil {
			per = c.events(b, where+"/")
		}
		return 4 + FleetUsers*(2+per)
	case "Parallel":
		n := 4
		for i := range s.Branches {
			n += c.events(&s.Branches[i], fmt.Sprintf("%s[%d]/", where, i))
		}
		return n
	}
	return 2
}

// maxSearchSteps caps the path search; keyrotor's definitions need a few thousand steps.
const maxSearchSteps = 2_000_000

// events is the largest event count of any path through m, each state entered at most as often
// as its loop bound allows (once without one).
func (c *checker) events(m *machine, prefix string) int {
	cost := map[string]int{}
	for name, s := range m.States {
		cost[name] = c.stateEvents(s, prefix+name)
	}
	visits := map[string]int{}
	steps := 0
	var walk func(name string) int
	walk = func(name string) int {
		s := m.States[name]
		if s == nil {
			return 0
		}
		limit := 1
		if b, ok := c.opts.LoopBounds[name]; ok {
			limit = b.Visits
		}
		if visits[name] >= limit {
			if _, ok := c.opts.LoopBounds[name]; !ok {
				c.add("loop-bound", prefix+name, "on a cycle with no known bound: the worst-case history cannot be computed; add the bound and its reason to aslrules.KeyrotorLoops")
			}
			return 0
		}
		if steps++; steps > maxSearchSteps {
			c.add("history-budget", prefix+name, fmt.Sprintf("more than %d paths to search: the worst case could not be computed; tighten the loop bounds", maxSearchSteps))
			return 0
		}
		visits[name]++
		defer func() { visits[name]-- }()
		var next []string
		if s.Next != "" {
			next = append(next, s.Next)
		}
		for _, ch := range s.Choices {
			next = append(next, ch.Next)
		}
		if s.Default != "" {
			next = append(next, s.Default)
		}
		for _, k := range s.Catch {
			next = append(next, k.Next)
		}
		best := 0
		for _, n := range next {
			best = max(best, walk(n))
		}
		return cost[name] + best
	}
	return walk(m.StartAt)
}

// Sizes of a fleet's per-user JSON at IAM's limits: a user name has at most 64 characters
// (reference_iam-quotas.html) and a tag value (keyrotor:parameter) at most 256.
var (
	userItemBytes   = jsonLen(map[string]string{"userName": strings.Repeat("u", 64), "parameterName": strings.Repeat("p", 256), "format": "json"})
	resultItemBytes = jsonLen(map[string]string{"user": strings.Repeat("u", 64), "status": "rotated"})
)

func jsonLen(v any) int {
	b, _ := json.Marshal(v)
	return len(b) + 1 // the separating comma in the array
}

// payload is the largest state the model finds: a Map that takes its items from the state (no
// ItemReader) holds one item per user there, and one result per user unless it has a
// ResultWriter or discards them (ResultPath null).
func (c *checker) payload(m *machine) int {
	largest := 0
	for _, s := range m.States {
		if s.Type != "Map" {
			continue
		}
		n := 0
		if len(s.ItemReader) == 0 {
			n += FleetUsers * userItemBytes
		}
		discard := s.ResultPath != nil && string(*s.ResultPath) == "null"
		if len(s.ResultWriter) == 0 && !discard {
			n += FleetUsers * resultItemBytes
		}
		largest = max(largest, n)
	}
	return largest
}
