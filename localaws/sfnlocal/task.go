package sfnlocal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// runTask runs one attempt of a Task state: the effective input goes to the TaskInvoker (see
// invoke.go for TimeoutSeconds and HeartbeatSeconds), the result through ResultSelector,
// ResultPath and OutputPath. The result carries the output's JSON text when it is at hand
// (the task's result unchanged, or spliced into the input), so it need not be encoded again.
func (r *runner) runTask(ctx context.Context, th *thread, st *state, raw any, rawText string, ctxObj map[string]any) (stateResult, error) {
	token := ""
	if strings.HasSuffix(st.resource, ".waitForTaskToken") {
		token = newTaskToken()
		ctxObj["Task"] = map[string]any{"Token": token}
	}
	var (
		eff    any
		inText string
		input  json.RawMessage // the invoker's copy of inText
	)
	if st.parameters != nil && st.timeoutPath == nil && st.heartbeatPath == nil {
		// Only the text of the effective input is needed: write it from the template.
		in, err := r.inputPath(st, raw, ctxObj)
		if err != nil {
			return stateResult{}, err
		}
		known := ""
		if st.inputPath == (ioPath{}) {
			known = rawText
		}
		b, err := st.parameters.appendText(make([]byte, 0, len(known)+128), r.env(in, ctxObj), known, "Parameters")
		if err != nil {
			return stateResult{}, err
		}
		inText, input = string(b), b // the invoker gets the buffer itself: one copy, not two
	} else {
		var err error
		if eff, err = r.effectiveInput(st, raw, ctxObj); err != nil {
			return stateResult{}, err
		}
		inText = encodeJSON(eff)
	}
	if len(inText) > MaxPayloadBytes {
		return stateResult{}, &stateError{Name: ErrDataLimitExceeded, Cause: fmt.Sprintf("The state/task '%s' has an input of %d bytes after Parameters, above the quota of %d bytes", st.name, len(inText), MaxPayloadBytes)}
	}
	timeout, err := r.secondsOrPath(st.timeoutSeconds, st.timeoutPath, eff, ctxObj, "TimeoutSecondsPath")
	if err != nil {
		return stateResult{}, err
	}
	heartbeat, err := r.secondsOrPath(st.heartbeatSeconds, st.heartbeatPath, eff, ctxObj, "HeartbeatSecondsPath")
	if err != nil {
		return stateResult{}, err
	}

	th.taskStarted(st, inText, timeout, heartbeat)
	if input == nil {
		input = json.RawMessage(inText)
	}

	req := TaskRequest{
		Resource: st.resource, Input: input, StateName: st.name, TaskToken: token,
		Timeout: timeout, Heartbeat: heartbeat, ExecutionArn: r.opts.ExecutionArn,
	}
	var sub *submission
	if st.kind == kindIntegration {
		sub = &submission{th: th, st: st}
		ctx = context.WithValue(ctx, submissionKey{}, sub)
	}
	result, se := r.invoke(ctx, req)
	submitted := sub != nil && sub.close() // from here on only this goroutine records events
	if se == nil && ctx.Err() != nil {
		return stateResult{}, ctx.Err()
	}
	if se != nil {
		var failure *stateError
		if !errors.As(se, &failure) {
			return stateResult{}, se // cancelled
		}
		th.taskFailed(st, failure)
		return stateResult{}, failure
	}
	resultBytes := bytes.TrimSpace(result)
	if len(resultBytes) == 0 {
		resultBytes = []byte("null")
	}
	// The history keeps the task's result as it sent it (key order included), compacted;
	// the decoded strings share its text.
	outText := string(resultBytes)
	value, compacted, err := decodeCompactText(outText)
	if err != nil {
		failure := &stateError{Name: ErrTaskFailed, Cause: fmt.Sprintf("The task returned a result that is not JSON: %v", err)}
		th.taskFailed(st, failure)
		return stateResult{}, failure
	}
	if !compacted {
		var compact bytes.Buffer
		if err := json.Compact(&compact, resultBytes); err != nil {
			compact.Reset()
			compact.WriteString(encodeJSON(value))
		}
		outText = compact.String()
	}
	if len(outText) > MaxPayloadBytes {
		// AWS names the resource (the function ARN, or the integration's service) and records
		// the task's failure; the error can be caught (see stateError.taskResult).
		failure := &stateError{Name: ErrDataLimitExceeded, taskResult: true,
			Cause: fmt.Sprintf("The state/task '%s' returned a result with a size exceeding the maximum number of bytes service limit.", resultOwner(st))}
		th.taskFailed(st, failure)
		return stateResult{}, failure
	}
	th.taskSucceeded(st, outText, submitted)
	if st.resultSelector == nil && st.resultPath.path == nil && !st.resultPath.discard && st.outputPath.path == nil && !st.outputPath.null {
		return stateResult{out: value, text: outText}, nil
	}
	out, err := r.finishResult(st, raw, value, ctxObj)
	if err != nil || st.resultSelector != nil {
		return stateResult{out: out}, err
	}
	return stateResult{out: out, text: r.splicedText(st, raw, rawText, func() string { return outText })}, nil
}

func (r *runner) secondsOrPath(n int, p *jsonPath, eff any, ctxObj map[string]any, field string) (time.Duration, error) {
	if p == nil {
		return time.Duration(n) * time.Second, nil
	}
	v, ok := p.get(eff, ctxObj)
	f, isNum := v.(float64)
	if !ok || !isNum || !isInteger(f) || f < 1 {
		return 0, &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("The %s '%s' does not reference a positive integer in the input '%s'", field, p.raw, encodeJSON(eff))}
	}
	return time.Duration(f) * time.Second, nil
}

// taskKind decides which family of history events a Task state records, as AWS does: a
// Lambda function ARN gives LambdaFunction*, an activity ARN Activity*, anything else (the
// arn:aws:states:::service:action integrations) Task*.
type taskKind int

const (
	kindIntegration taskKind = iota
	kindLambda
	kindActivity
)

var (
	lambdaFunctionARN = regexp.MustCompile(`^arn:[a-z-]+:lambda:[^:]*:[^:]*:function:`)
	activityARN       = regexp.MustCompile(`^arn:[a-z-]+:states:[^:]+:[^:]+:activity:`)
)

func taskKindOf(resource string) taskKind {
	switch {
	case lambdaFunctionARN.MatchString(resource):
		return kindLambda
	case activityARN.MatchString(resource):
		return kindActivity
	}
	return kindIntegration
}

// resourceTypeOf splits a service-integration ARN into AWS's resourceType and resource:
// arn:aws:states:::lambda:invoke → ("lambda", "invoke").
func resourceTypeOf(resource string) (string, string) {
	parts := strings.SplitN(resource, ":", 7)
	if len(parts) >= 7 && parts[2] == "states" && parts[3] == "" && parts[4] == "" {
		return parts[5], parts[6]
	}
	if len(parts) >= 6 {
		return parts[2], strings.Join(parts[5:], ":")
	}
	return "unknown", resource
}

// resultOwner is how AWS names a Task in its result-size failure: a Lambda function's ARN, an
// integration's service ("lambda" for arn:aws:states:::lambda:invoke).
func resultOwner(st *state) string {
	if st.kind == kindLambda {
		return st.resource
	}
	if st.resourceType != "" {
		return st.resourceType
	}
	return st.name
}

func newTaskToken() string {
	var b [48]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
