package sfnapi_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal/sfnapi"
)

// distDef runs each item as a child execution of a Distributed Map labelled "each": a bad
// item fails in the fail Lambda, a blocking one waits in the block Lambda until stopped.
func distDef(settings string) string {
	return `{"StartAt":"Each","States":{"Each":{"Type":"Map","Label":"each","ItemsPath":"$.items",` + settings + `
		"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"Which","States":{
			"Which":{"Type":"Choice","Choices":[
				{"Variable":"$.bad","IsPresent":true,"Next":"Fail"},
				{"Variable":"$.badOnceBlocked","IsPresent":true,"Next":"FailOnceBlocked"},
				{"Variable":"$.block","IsPresent":true,"Next":"Block"}],"Default":"Done"},
			"Fail":{"Type":"Task","Resource":"` + lambdaArn("fail") + `","End":true},
			"FailOnceBlocked":{"Type":"Task","Resource":"` + lambdaArn("failonceblocked") + `","End":true},
			"Block":{"Type":"Task","Resource":"` + lambdaArn("block") + `","End":true},
			"Done":{"Type":"Pass","End":true}}},"End":true}}}`
}

var uuidRe = `[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`

// A Distributed Map runs each item as a child execution of its own in a Map Run
// (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html), named
// and listed as AWS does: Map Run ARN mapRun:<machine>/<label>:<id>, children
// execution:<machine>/<label>:<name> (concepts-examine-map-run.html; recorded in localstack
// tests/aws/services/stepfunctions/v2/test_sfn_api_map_run.snapshot.json), failures under
// ToleratedFailureCount tolerated.
func TestDistributedMapRunsChildExecutionsInAMapRun(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	machine := h.create(t, "dist", distDef(`"ToleratedFailureCount":1,`))
	arn, err := h.srv.StartExecution(ctx, machine, "parent", `{"items":[{"n":1},{"n":2,"bad":true},{"n":3}]}`)
	if err != nil {
		t.Fatal(err)
	}
	x := h.wait(t, arn)
	if x.Status != sfnlocal.StatusSucceeded {
		t.Fatalf("parent %s: %s %s", x.Status, x.Error, x.Cause)
	}
	var out []map[string]any
	if err := json.Unmarshal(x.Output, &out); err != nil || len(out) != 3 || out[1]["Error"] != "VerificationFailed" || out[2]["n"] != 3.0 {
		t.Fatalf("output %s, want the items in order with the failed one as {Error, Cause}", x.Output)
	}

	hist, err := h.client.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	var types_ []string
	var mapRunArn string
	var runEnd, exited types.HistoryEvent
	for _, ev := range hist.Events {
		types_ = append(types_, string(ev.Type))
		switch ev.Type {
		case types.HistoryEventTypeMapRunStarted:
			mapRunArn = aws.ToString(ev.MapRunStartedEventDetails.MapRunArn)
		case types.HistoryEventTypeMapRunSucceeded:
			runEnd = ev
		case types.HistoryEventTypeMapStateExited:
			exited = ev
		}
	}
	// The parent's history holds the Map Run, not the children's states (recorded:
	// test_base_scenarios.snapshot.json, test_map_state_result_writer).
	want := "ExecutionStarted,MapStateEntered,MapStateStarted,MapRunStarted,MapRunSucceeded,MapStateSucceeded,MapStateExited,ExecutionSucceeded"
	if got := strings.Join(types_, ","); got != want {
		t.Fatalf("parent history %s\nwant %s", got, want)
	}
	if exited.PreviousEventId != runEnd.Id {
		t.Errorf("MapStateExited follows event %d, want MapRunSucceeded (%d) as AWS records", exited.PreviousEventId, runEnd.Id)
	}
	if !regexp.MustCompile(`^arn:aws:states:` + region + `:` + account + `:mapRun:dist/each:` + uuidRe + `$`).MatchString(mapRunArn) {
		t.Errorf("Map Run ARN %s", mapRunArn)
	}

	runs, err := h.client.ListMapRuns(ctx, &sfn.ListMapRunsInput{ExecutionArn: aws.String(arn)})
	if err != nil || len(runs.MapRuns) != 1 || aws.ToString(runs.MapRuns[0].MapRunArn) != mapRunArn ||
		aws.ToString(runs.MapRuns[0].StateMachineArn) != machine+"/each" {
		t.Fatalf("ListMapRuns = %+v, %v", runs, err)
	}
	d, err := h.client.DescribeMapRun(ctx, &sfn.DescribeMapRunInput{MapRunArn: aws.String(mapRunArn)})
	if err != nil {
		t.Fatal(err)
	}
	c := d.ExecutionCounts
	if d.Status != types.MapRunStatusSucceeded || c.Total != 3 || c.Succeeded != 2 || c.Failed != 1 || c.Running != 0 || d.ToleratedFailureCount != 1 || aws.ToString(d.ExecutionArn) != arn {
		t.Errorf("DescribeMapRun: status %s counts %+v tolerated %d", d.Status, *c, d.ToleratedFailureCount)
	}

	kids, err := h.client.ListExecutions(ctx, &sfn.ListExecutionsInput{MapRunArn: aws.String(mapRunArn)})
	if err != nil || len(kids.Executions) != 3 {
		t.Fatalf("ListExecutions(mapRunArn) = %+v, %v", kids, err)
	}
	childRe := regexp.MustCompile(`^arn:aws:states:` + region + `:` + account + `:execution:dist/each:` + uuidRe + `$`)
	for _, k := range kids.Executions {
		if !childRe.MatchString(aws.ToString(k.ExecutionArn)) || aws.ToString(k.MapRunArn) != mapRunArn {
			t.Errorf("child %s of map run %s", aws.ToString(k.ExecutionArn), aws.ToString(k.MapRunArn))
		}
		cx, err := h.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: k.ExecutionArn})
		if err != nil || aws.ToString(cx.MapRunArn) != mapRunArn {
			t.Errorf("DescribeExecution(child) mapRunArn %v, %v", cx, err)
		}
		// Each child has a history of its own.
		ch, err := h.client.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: k.ExecutionArn})
		if err != nil || len(ch.Events) < 4 || ch.Events[0].Type != types.HistoryEventTypeExecutionStarted {
			t.Errorf("child history %v, %v", ch, err)
		}
	}
}

// Over the threshold the Map Run fails with States.ExceedToleratedFailureThreshold
// (state-map-distributed.html#maprun-fail-threshold) and the children still running are
// stopped (MapRunExecutionCounts.aborted: "stopped ... by Step Functions because the Map Run
// failed", API_MapRunExecutionCounts.html). The failing child fails only once the other's
// task has started, so that it is running when the Map Run fails.
func TestDistributedMapOverTheThresholdFailsAndStopsTheRest(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	machine := h.create(t, "dist", distDef(`"MaxConcurrency":2,`))
	arn, err := h.srv.StartExecution(ctx, machine, "parent", `{"items":[{"block":true},{"badOnceBlocked":true},{"n":3}]}`)
	if err != nil {
		t.Fatal(err)
	}
	h.awaitBlocked(t)
	x := h.wait(t, arn)
	if x.Status != sfnlocal.StatusFailed || x.Error != sfnlocal.ErrExceedToleratedFailureThreshold {
		t.Fatalf("parent %s %s %s", x.Status, x.Error, x.Cause)
	}
	runs, err := h.srv.ListMapRuns(ctx, arn)
	if err != nil || len(runs) != 1 {
		t.Fatalf("ListMapRuns %v %v", runs, err)
	}
	r := runs[0]
	if r.Status != sfnlocal.StatusFailed || r.Counts.Failed != 1 || r.Counts.Aborted != 1 || r.Counts.Running != 0 {
		t.Errorf("map run %s counts %+v, want FAILED with 1 failed and the blocked child aborted", r.Status, r.Counts)
	}
}

// Stopping the parent stops its Map Run and every child it runs: the children end ABORTED,
// the parent's history records MapRunAborted.
func TestStoppingTheParentStopsTheMapRunAndItsChildren(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	machine := h.create(t, "dist", distDef(``))
	arn, err := h.srv.StartExecution(ctx, machine, "parent", `{"items":[{"block":1},{"block":2},{"block":3}]}`)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		h.awaitBlocked(t)
	}
	if _, err := h.srv.StopExecution(ctx, arn, "Operator", "stopped by hand"); err != nil {
		t.Fatal(err)
	}
	x := h.wait(t, arn)
	if x.Status != sfnlocal.StatusAborted {
		t.Fatalf("parent %s", x.Status)
	}
	runs, _ := h.srv.ListMapRuns(ctx, arn)
	if len(runs) != 1 || runs[0].Status != sfnlocal.StatusAborted || runs[0].Counts.Aborted != 3 {
		t.Fatalf("map runs %+v, want one ABORTED with 3 aborted children", runs)
	}
	events, _ := h.srv.History(ctx, arn)
	var seen []string
	for _, ev := range events {
		seen = append(seen, ev.Type)
	}
	if !strings.Contains(strings.Join(seen, ","), "MapRunAborted,MapStateAborted,ExecutionAborted") {
		t.Errorf("parent history %v", seen)
	}
}

// objectsHolding is an in-memory ObjectStore holding one object.
func objectsHolding(bucket, key, body string) *sfnlocal.MemoryObjects {
	s3 := sfnlocal.NewMemoryObjects()
	s3.Put(bucket, key, []byte(body))
	return s3
}

// ItemReader reads the items from a JSON array in S3, ItemSelector shapes each child's input,
// and ResultWriter writes <Prefix>/<Map Run id>/manifest.json and SUCCEEDED_0.json /
// FAILED_0.json, the state's output naming the manifest
// (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemreader.html,
// input-output-resultwriter.html; output recorded in test_map_state_result_writer).
func TestDistributedMapReadsItemsFromS3AndWritesResultsToS3(t *testing.T) {
	s3 := objectsHolding("in", "users.json", `[{"u":"a"},{"u":"b","bad":true},{"u":"c"}]`)
	srv := sfnapi.New(sfnapi.Options{Objects: s3, Clock: sfnlocal.NewVirtualClock(start), Tasks: sfnlocal.TaskInvokerFunc(func(ctx context.Context, req sfnlocal.TaskRequest) (json.RawMessage, error) {
		return nil, sfnlocal.NewTaskFailure("VerificationFailed", "bad item")
	})})
	t.Cleanup(srv.Close)
	def := `{"StartAt":"Each","States":{"Each":{"Type":"Map","ToleratedFailurePercentage":50,
		"ItemReader":{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"JSON"},"Parameters":{"Bucket.$":"$.bucket","Key":"users.json"}},
		"ItemSelector":{"item.$":"$$.Map.Item.Value","index.$":"$$.Map.Item.Index"},
		"ResultWriter":{"Resource":"arn:aws:states:::s3:putObject","Parameters":{"Bucket":"out","Prefix":"reports"}},
		"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"Which","States":{
			"Which":{"Type":"Choice","Choices":[{"Variable":"$.item.bad","IsPresent":true,"Next":"Fail"}],"Default":"Done"},
			"Fail":{"Type":"Task","Resource":"` + lambdaArn("fail") + `","End":true},
			"Done":{"Type":"Pass","End":true}}},"End":true}}}`
	ctx := context.Background()
	machine, err := srv.CreateStateMachine(ctx, "reader", def, roleArn)
	if err != nil {
		t.Fatal(err)
	}
	arn, err := srv.StartExecution(ctx, machine, "p", `{"bucket":"in"}`)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30e9)
	defer cancel()
	x, err := srv.Wait(wctx, arn)
	if err != nil || x.Status != sfnlocal.StatusSucceeded {
		t.Fatalf("execution %+v, %v", x, err)
	}
	var out struct {
		MapRunArn           string
		ResultWriterDetails struct{ Bucket, Key string }
	}
	if err := json.Unmarshal(x.Output, &out); err != nil {
		t.Fatal(err)
	}
	id := out.MapRunArn[strings.LastIndexByte(out.MapRunArn, ':')+1:]
	if out.ResultWriterDetails.Bucket != "out" || out.ResultWriterDetails.Key != "reports/"+id+"/manifest.json" {
		t.Fatalf("output %s", x.Output)
	}
	var manifest struct {
		DestinationBucket, MapRunArn string
		ResultFiles                  map[string][]struct {
			Key  string
			Size int
		}
	}
	body, err := s3.GetObject(ctx, "out", out.ResultWriterDetails.Key)
	if err != nil || json.Unmarshal(body, &manifest) != nil {
		t.Fatalf("manifest %s, %v", body, err)
	}
	if manifest.MapRunArn != out.MapRunArn || len(manifest.ResultFiles["SUCCEEDED"]) != 1 || len(manifest.ResultFiles["FAILED"]) != 1 {
		t.Fatalf("manifest %s", body)
	}
	var succeeded, failed []struct{ Status, Input, Output, Error string }
	b1, _ := s3.GetObject(ctx, "out", manifest.ResultFiles["SUCCEEDED"][0].Key)
	b2, _ := s3.GetObject(ctx, "out", manifest.ResultFiles["FAILED"][0].Key)
	if json.Unmarshal(b1, &succeeded) != nil || json.Unmarshal(b2, &failed) != nil || len(succeeded) != 2 || len(failed) != 1 ||
		failed[0].Error != "VerificationFailed" || !strings.Contains(failed[0].Input, `"u":"b"`) || !strings.Contains(failed[0].Input, `"index":1`) {
		t.Fatalf("SUCCEEDED %s\nFAILED %s", b1, b2)
	}
}

// An ItemReader object that is not a JSON array fails the Map Run with States.ItemReaderFailed
// before any child starts, in the recorded shape: MapStateStarted {length 0}, MapRunStarted,
// MapRunFailed {error, cause}, MapStateFailed, ExecutionFailed (localstack
// tests/aws/services/stepfunctions/v2/scenarios/test_base_scenarios.snapshot.json,
// test_map_item_reader_json_no_json_list_object).
func TestDistributedMapItemReaderOfANonArrayFailsTheMapRun(t *testing.T) {
	s3 := objectsHolding("in", "obj.json", `{"not":"a list"}`)
	srv := sfnapi.New(sfnapi.Options{Objects: s3, Clock: sfnlocal.NewVirtualClock(start)})
	t.Cleanup(srv.Close)
	def := `{"StartAt":"Each","States":{"Each":{"Type":"Map",
		"ItemReader":{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"JSON"},"Parameters":{"Bucket":"in","Key":"obj.json"}},
		"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`
	ctx := context.Background()
	machine, err := srv.CreateStateMachine(ctx, "reader", def, roleArn)
	if err != nil {
		t.Fatal(err)
	}
	arn, err := srv.StartExecution(ctx, machine, "p", `{}`)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30e9)
	defer cancel()
	x, err := srv.Wait(wctx, arn)
	if err != nil || x.Status != sfnlocal.StatusFailed || x.Error != sfnlocal.ErrItemReaderFailed || x.Cause != "Attempting to map over non-iterable node." {
		t.Fatalf("execution %+v, %v", x, err)
	}
	events, _ := srv.History(ctx, arn)
	var got []string
	for _, ev := range events {
		got = append(got, ev.Type)
	}
	want := "ExecutionStarted,MapStateEntered,MapStateStarted,MapRunStarted,MapRunFailed,MapStateFailed,ExecutionFailed"
	if strings.Join(got, ",") != want {
		t.Fatalf("history %v\nwant %s", got, want)
	}
	if d, ok := events[2].Details.(*sfnlocal.MapStateStartedEventDetails); !ok || d.Length != 0 {
		t.Errorf("MapStateStarted details %+v, want length 0", events[2].Details)
	}
}
