package sfnlocal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// StateMachine is a parsed, validated definition.
type StateMachine struct {
	StartAt string
	Comment string
	raw     map[string]json.RawMessage
}

// Parse validates a definition.
func Parse(definition []byte) (*StateMachine, error) {
	var top struct {
		StartAt string
		Comment string
		States  map[string]json.RawMessage
	}
	if err := json.Unmarshal(definition, &top); err != nil {
		return nil, fmt.Errorf("definition is not valid JSON: %w", err)
	}
	if top.StartAt == "" {
		return nil, errors.New("definition: StartAt is missing")
	}
	if _, ok := top.States[top.StartAt]; !ok {
		return nil, fmt.Errorf("definition: StartAt %q names no state", top.StartAt)
	}
	return &StateMachine{StartAt: top.StartAt, Comment: top.Comment, raw: top.States}, nil
}

// Run executes sm with input.
func Run(ctx context.Context, sm *StateMachine, input json.RawMessage, opts Options) *Execution {
	_ = ctx
	return &Execution{Status: StatusFailed, Error: "States.Runtime", Cause: "the engine is being written"}
}
