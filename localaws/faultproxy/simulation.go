package faultproxy

import (
	_ "embed"
	"encoding/json"
)

// SimulationRequest is one call for @cloud-copilot/iam-simulate as SimulationScript's
// simulationOf reads it: who calls, what, on which resource of which account, with which
// request context, under which identity policies and resource policy.
type SimulationRequest struct {
	Principal        string          `json:"principal"`
	Action           string          `json:"action"`
	Resource         string          `json:"resource"`
	AccountID        string          `json:"accountId"`
	Context          map[string]any  `json:"context"`
	IdentityPolicies []NamedPolicy   `json:"identityPolicies"`
	ResourcePolicy   json.RawMessage `json:"resourcePolicy,omitempty"`
}

// NamedPolicy is an identity policy document and the name iam-simulate reports it by.
type NamedPolicy struct {
	Name   string          `json:"name"`
	Policy json.RawMessage `json:"policy"`
}

// SimulationScript is JavaScript that defines simulationOf(req): runSimulation's argument for
// a SimulationRequest. A script driving iam-simulate starts with it (the proxy's trust.cjs
// does), so that every caller asks iam-simulate the same way.
//
//go:embed simulation.cjs
var SimulationScript string
