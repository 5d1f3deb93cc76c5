package sfnlocal

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// The history's wire shape is what the AWS SDK's sfn client decodes: every event type the
// engine emits comes back from GetExecutionHistory with its details in the SDK's typed field.
func TestHistoryDecodesWithTheSFNClient(t *testing.T) {
	def := `{"StartAt":"P","States":{
	  "P":{"Type":"Pass","Next":"L"},
	  "L":{"Type":"Task","Resource":"` + testLambda + `","TimeoutSeconds":9,"Retry":[{"ErrorEquals":["E"]}],"Next":"I"},
	  "I":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Next":"A"},
	  "A":{"Type":"Task","Resource":"arn:aws:states:eu-west-1:123456789012:activity:approve","Next":"M"},
	  "M":{"Type":"Map","ItemsPath":"$.items","ItemProcessor":{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1,"End":true}}},"ResultPath":null,"Next":"Par"},
	  "Par":{"Type":"Parallel","Branches":[{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.x","IsPresent":true,"Next":"S"}],"Default":"S"},"S":{"Type":"Succeed"}}}],"ResultPath":null,"Next":"F"},
	  "F":{"Type":"Fail","Error":"Done","Cause":"by design"}}}`
	tasks, _ := failingTask("E")
	ex, _ := runDef(t, def, `{"x":1,"items":[1,2]}`, tasks)
	wantFailed(t, ex, "Done", "by design")

	events := sdkHistory(t, ex)
	for i, e := range events {
		ours := ex.History[i]
		if string(e.Type) != ours.Type || e.Id != ours.ID || e.PreviousEventId != ours.PreviousEventID || !e.Timestamp.Equal(ours.Timestamp) {
			t.Errorf("event %d: SDK sees %s id %d prev %d at %v, ours %s %d %d %v", i, e.Type, e.Id, e.PreviousEventId, e.Timestamp, ours.Type, ours.ID, ours.PreviousEventID, ours.Timestamp)
		}
		if ours.Details != nil && !hasSDKDetails(e) {
			t.Errorf("event %d (%s): the SDK found no details under %s", i, ours.Type, ours.DetailsKey())
		}
	}
	last := events[len(events)-1]
	if last.ExecutionFailedEventDetails == nil || aws.ToString(last.ExecutionFailedEventDetails.Error) != "Done" {
		t.Errorf("ExecutionFailed details = %+v", last.ExecutionFailedEventDetails)
	}
	first := events[0].ExecutionStartedEventDetails
	if first == nil || aws.ToString(first.Input) != `{"x":1,"items":[1,2]}` || aws.ToString(first.RoleArn) == "" {
		t.Errorf("ExecutionStarted details = %+v", first)
	}
}

func hasSDKDetails(e types.HistoryEvent) bool {
	return e.ExecutionStartedEventDetails != nil || e.ExecutionSucceededEventDetails != nil ||
		e.ExecutionFailedEventDetails != nil || e.ExecutionAbortedEventDetails != nil || e.ExecutionTimedOutEventDetails != nil ||
		e.StateEnteredEventDetails != nil || e.StateExitedEventDetails != nil ||
		e.LambdaFunctionScheduledEventDetails != nil || e.LambdaFunctionSucceededEventDetails != nil ||
		e.LambdaFunctionFailedEventDetails != nil || e.LambdaFunctionTimedOutEventDetails != nil ||
		e.TaskScheduledEventDetails != nil || e.TaskStartedEventDetails != nil || e.TaskSubmittedEventDetails != nil ||
		e.TaskSucceededEventDetails != nil || e.TaskFailedEventDetails != nil || e.TaskTimedOutEventDetails != nil ||
		e.MapStateStartedEventDetails != nil || e.MapIterationStartedEventDetails != nil ||
		e.MapIterationSucceededEventDetails != nil || e.MapIterationFailedEventDetails != nil || e.MapIterationAbortedEventDetails != nil ||
		e.ActivityScheduledEventDetails != nil || e.ActivitySucceededEventDetails != nil || e.ActivityFailedEventDetails != nil || e.ActivityTimedOutEventDetails != nil
}

// sdkHistory serves ex's history as GetExecutionHistory does and returns what the AWS SDK's
// sfn client decodes from it.
func sdkHistory(t *testing.T, ex *Execution) []types.HistoryEvent {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_ = json.NewEncoder(w).Encode(map[string]any{"events": ex.History})
	}))
	defer srv.Close()
	client := sfn.New(sfn.Options{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.AnonymousCredentials{}})
	out, err := client.GetExecutionHistory(context.Background(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(testExecArn)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Events) != len(ex.History) {
		t.Fatalf("SDK decoded %d events, want %d", len(out.Events), len(ex.History))
	}
	return out.Events
}
