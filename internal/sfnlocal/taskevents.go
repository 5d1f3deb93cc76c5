package sfnlocal

import (
	"regexp"
	"strings"
	"time"
)

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

// ActivityScheduledEventDetails — ActivityScheduled.
type ActivityScheduledEventDetails struct {
	Resource           string          `json:"resource"`
	Input              string          `json:"input"`
	InputDetails       *PayloadDetails `json:"inputDetails,omitempty"`
	TimeoutInSeconds   int64           `json:"timeoutInSeconds,omitempty"`
	HeartbeatInSeconds int64           `json:"heartbeatInSeconds,omitempty"`
}

func (r *runner) recordTaskStarted(th *thread, st *state, input string, timeout, heartbeat time.Duration) {
	switch st.kind {
	case kindLambda:
		th.add("LambdaFunctionScheduled", th.lambdaScheduled.alloc(LambdaFunctionScheduledEventDetails{Resource: st.resource, Input: input, InputDetails: notTruncated, TimeoutInSeconds: int64(timeout / time.Second)}, min(th.chunk, 4)))
		th.add("LambdaFunctionStarted", nil)
	case kindActivity:
		th.add("ActivityScheduled", &ActivityScheduledEventDetails{Resource: st.resource, Input: input, InputDetails: notTruncated, TimeoutInSeconds: int64(timeout / time.Second), HeartbeatInSeconds: int64(heartbeat / time.Second)})
		th.add("ActivityStarted", nil)
	default:
		th.add("TaskScheduled", &TaskScheduledEventDetails{ResourceType: st.resourceType, Resource: st.resourceName, Region: r.region, Parameters: input, TimeoutInSeconds: int64(timeout / time.Second), HeartbeatInSeconds: int64(heartbeat / time.Second)})
		th.add("TaskStarted", &TaskStartedEventDetails{ResourceType: st.resourceType, Resource: st.resourceName})
	}
}

func (r *runner) recordTaskFailed(th *thread, st *state, failure *stateError) {
	timedOut := failure.Name == ErrTimeout || failure.Name == ErrHeartbeatTimeout
	ec := &ErrorCauseDetails{Error: failure.Name, Cause: failure.Cause}
	switch {
	case st.kind == kindLambda && timedOut:
		th.add("LambdaFunctionTimedOut", ec)
	case st.kind == kindLambda:
		th.add("LambdaFunctionFailed", ec)
	case st.kind == kindActivity && timedOut:
		th.add("ActivityTimedOut", ec)
	case st.kind == kindActivity:
		th.add("ActivityFailed", ec)
	case timedOut:
		th.add("TaskTimedOut", &TaskErrorEventDetails{ResourceType: st.resourceType, Resource: st.resourceName, Error: failure.Name, Cause: failure.Cause})
	default:
		th.add("TaskFailed", &TaskErrorEventDetails{ResourceType: st.resourceType, Resource: st.resourceName, Error: failure.Name, Cause: failure.Cause})
	}
}

// recordTaskSucceeded records the task's success; submitted says whether its invoker
// already recorded TaskSubmitted (see Submitted).
func (r *runner) recordTaskSucceeded(th *thread, st *state, output string, submitted bool) {
	switch st.kind {
	case kindLambda:
		th.add("LambdaFunctionSucceeded", th.lambdaSucceeded.alloc(OutputDetails{Output: output, OutputDetails: notTruncated}, min(th.chunk, 4)))
	case kindActivity:
		th.add("ActivitySucceeded", &OutputDetails{Output: output, OutputDetails: notTruncated})
	default:
		if !submitted && (strings.Contains(st.resourceName, ".sync") || strings.HasSuffix(st.resourceName, ".waitForTaskToken")) {
			th.add("TaskSubmitted", &TaskOutputEventDetails{ResourceType: st.resourceType, Resource: st.resourceName, Output: output, OutputDetails: notTruncated})
		}
		th.add("TaskSucceeded", &TaskOutputEventDetails{ResourceType: st.resourceType, Resource: st.resourceName, Output: output, OutputDetails: notTruncated})
	}
}
