package lambdamain_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/keyrotor/keyrotor/internal/lambdamain"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

type event struct {
	Name string `json:"name"`
	Fail string `json:"fail,omitempty"`
}

func (e event) LogAttrs() []any { return []any{"name", e.Name} }

type result struct {
	Greeting string `json:"greeting"`
}

func greet(_ context.Context, e event) (result, error) {
	switch e.Fail {
	case "named":
		return result{}, &rotation.Error{Name: rotation.UserNotFound, Message: "IAM user " + e.Name + " does not exist"}
	case "plain":
		return result{}, errors.New("boom")
	}
	return result{Greeting: "hello " + e.Name}, nil
}

func TestAdaptDecodesStrictlyAndNamesFailures(t *testing.T) {
	tests := []struct {
		name, event, wantType, wantText string
	}{
		{"unknown field", `{"name":"x","nmae":"y"}`, rotation.InvalidInput, `the event is not a greeting: json: unknown field "nmae"`},
		{"wrong type", `{"name":5}`, rotation.InvalidInput, "name"},
		{"not json", `nope`, rotation.InvalidInput, "the event is not a greeting"},
		{"named error keeps its name", `{"name":"x","fail":"named"}`, rotation.UserNotFound, "IAM user x does not exist"},
		{"other error is unexpected", `{"name":"x","fail":"plain"}`, rotation.UnexpectedError, "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := lambdamain.Adapt(slog.New(slog.NewJSONHandler(&logs, nil)), "a greeting", greet)
			out, err := h(context.Background(), json.RawMessage(tt.event))
			var lambdaErr messages.InvokeResponse_Error
			if out != nil || !errors.As(err, &lambdaErr) || lambdaErr.Type != tt.wantType || !strings.Contains(lambdaErr.Message, tt.wantText) {
				t.Fatalf("got %v, %#v; want %s mentioning %q", out, err, tt.wantType, tt.wantText)
			}
			if !strings.Contains(logs.String(), `"error":"`+tt.wantType+`"`) {
				t.Errorf("the failure is not logged by name: %s", logs.String())
			}
		})
	}
}

func TestAdaptLogsTheEventsFieldsWithItsFailure(t *testing.T) {
	var logs bytes.Buffer
	h := lambdamain.Adapt(slog.New(slog.NewJSONHandler(&logs, nil)), "a greeting", greet)
	if _, err := h(context.Background(), json.RawMessage(`{"name":"ann","fail":"plain"}`)); err == nil {
		t.Fatal("no error")
	}
	if _, err := h(context.Background(), json.RawMessage(`{"name":"bob","fail":"plain"}`)); err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"name":"ann"`) || !strings.Contains(lines[1], `"name":"bob"`) || strings.Contains(lines[1], "ann") {
		t.Errorf("each failure must carry its own event's fields, once:\n%s", logs.String())
	}
}

func TestAdaptReturnsTheHandlersDocument(t *testing.T) {
	h := lambdamain.Adapt(slog.New(slog.DiscardHandler), "a greeting", greet)
	out, err := h(context.Background(), json.RawMessage(`{"name":"ann"}`))
	if err != nil || out == nil || out.Greeting != "hello ann" {
		t.Fatalf("got %+v, %v", out, err)
	}
}
