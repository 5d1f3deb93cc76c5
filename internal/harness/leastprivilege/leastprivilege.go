// Package leastprivilege evaluates AWS calls against keyrotor's rendered IAM policies and KMS
// key policy with @cloud-copilot/iam-simulate (full IAM evaluation: resources, conditions, KMS
// key policies, unknown actions and wrong resource types rejected). It is a test-time tool:
// the library runs in one Node process per batch (evaluate.cjs).
package leastprivilege

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/localaws/faultproxy"
)

//go:embed evaluate.cjs
var evaluatorScript string

// Call is one AWS request as IAM authorizes it.
type Call struct {
	Principal string              // the caller: a role ARN (evaluated as a session of it) or a user ARN
	Action    string              // IAM action, e.g. "iam:CreateAccessKey"
	Resource  string              // the exact resource ARN; "*" for actions without a resource type
	Context   map[string][]string // request context, e.g. "iam:ResourceTag/keyrotor:managed", "kms:ViaService"
	Note      string              // why the call is made, for reports
}

// NamedPolicy is an identity policy attached to a principal.
type NamedPolicy struct {
	Name     string
	Document deployed.Document
}

// Policies are what authorizes calls: identity policies per principal ARN and resource
// policies (the KMS key policy) per resource ARN.
type Policies struct {
	Identity map[string][]NamedPolicy
	Resource map[string]deployed.Document
}

// ResourcePolicyName names the resource policy in StatementRef.Policy.
const ResourcePolicyName = "resource"

// StatementRef names a statement: its policy (an identity policy's name, or
// ResourcePolicyName) and its Sid.
type StatementRef struct {
	Policy string
	Sid    string
}

func (r StatementRef) String() string { return r.Policy + "/" + r.Sid }

// Decision is the evaluation of one call.
type Decision struct {
	Call   Call
	Result string // "Allowed", "ImplicitlyDenied" or "ExplicitlyDenied"
	// Decisive are the statements that made the result: the Allow statements that granted an
	// allowed call, the Deny statements that denied one (none for an implicit deny).
	Decisive []StatementRef
}

// Allowed reports whether the call is allowed.
func (d Decision) Allowed() bool { return d.Result == "Allowed" }

// Evaluator runs evaluate.cjs with Node.
type Evaluator struct {
	Node    string // node binary (Node 20+)
	Library string // the @cloud-copilot/iam-simulate package directory
}

// NewEvaluator finds Node (on PATH, else the npm-installed one) and iam-simulate under the
// repository root's scripts/npm/node_modules.
func NewEvaluator(root string) (*Evaluator, error) {
	lib := filepath.Join(root, "scripts", "npm", "node_modules", "@cloud-copilot", "iam-simulate")
	if _, err := os.Stat(filepath.Join(lib, "package.json")); err != nil {
		return nil, fmt.Errorf("@cloud-copilot/iam-simulate is not installed under %s: run make tools", lib)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		node = filepath.Join(root, "scripts", "npm", "node_modules", ".bin", "node")
		if _, statErr := os.Stat(node); statErr != nil {
			return nil, errors.New("node is not on PATH and scripts/npm has none: install Node.js 20+ or run make tools")
		}
	}
	return &Evaluator{Node: node, Library: lib}, nil
}

type result struct {
	Result   string `json:"result"`
	Error    string `json:"error"`
	Decisive []struct {
		Policy string `json:"policy"`
		Sid    string `json:"sid"`
	} `json:"decisive"`
}

// Evaluate decides every call in one Node process. A call iam-simulate rejects (unknown action,
// resource of the wrong type, context key that does not apply, invalid policy) is an error:
// the call table, not the policy, is then wrong.
func (e *Evaluator) Evaluate(ctx context.Context, calls []Call, p Policies) ([]Decision, error) {
	reqs := make([]faultproxy.SimulationRequest, len(calls))
	for i, c := range calls {
		r, err := buildRequest(c, p)
		if err != nil {
			return nil, err
		}
		reqs[i] = r
	}
	in, err := json.Marshal(map[string]any{"requests": reqs})
	if err != nil {
		return nil, fmt.Errorf("encode evaluation requests: %w", err)
	}
	cmd := exec.CommandContext(ctx, e.Node, "-e", faultproxy.SimulationScript+evaluatorScript, e.Library)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("run iam-simulate with %s: %w: %s", e.Node, err, strings.TrimSpace(stderr.String()))
	}
	var out struct {
		Results []result `json:"results"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("decode iam-simulate results: %w", err)
	}
	if len(out.Results) != len(calls) {
		return nil, fmt.Errorf("iam-simulate answered %d of %d calls", len(out.Results), len(calls))
	}
	decisions := make([]Decision, len(calls))
	var errs []error
	for i, r := range out.Results {
		if r.Error != "" {
			errs = append(errs, fmt.Errorf("call %d (%s %s on %s): iam-simulate rejects it: %s", i, calls[i].Principal, calls[i].Action, calls[i].Resource, r.Error))
			continue
		}
		d := Decision{Call: calls[i], Result: r.Result}
		for _, s := range r.Decisive {
			d.Decisive = append(d.Decisive, StatementRef{Policy: s.Policy, Sid: s.Sid})
		}
		decisions[i] = d
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return decisions, nil
}

func buildRequest(c Call, p Policies) (faultproxy.SimulationRequest, error) {
	account := accountOf(c.Resource)
	if account == "" {
		account = accountOf(c.Principal)
	}
	if account == "" {
		return faultproxy.SimulationRequest{}, fmt.Errorf("call %s on %s: neither the resource nor the principal names an account", c.Action, c.Resource)
	}
	r := faultproxy.SimulationRequest{
		Principal: sessionOf(c.Principal),
		Action:    c.Action,
		Resource:  c.Resource,
		AccountID: account,
		Context:   map[string]any{},
	}
	for k, v := range c.Context {
		if len(v) == 1 && !strings.EqualFold(k, "kms:EncryptionContextKeys") {
			r.Context[k] = v[0]
		} else {
			r.Context[k] = v
		}
	}
	for _, np := range p.Identity[c.Principal] {
		doc, err := json.Marshal(np.Document)
		if err != nil {
			return r, fmt.Errorf("encode policy %s: %w", np.Name, err)
		}
		r.IdentityPolicies = append(r.IdentityPolicies, faultproxy.NamedPolicy{Name: np.Name, Policy: doc})
	}
	if rp, ok := p.Resource[c.Resource]; ok {
		doc, err := json.Marshal(rp)
		if err != nil {
			return r, fmt.Errorf("encode the resource policy of %s: %w", c.Resource, err)
		}
		r.ResourcePolicy = doc
	}
	return r, nil
}

// sessionOf turns a role ARN into the ARN of a session of it, as a Lambda's calls are made.
func sessionOf(principal string) string {
	parts := strings.SplitN(principal, ":", 6)
	if len(parts) == 6 && parts[2] == "iam" && strings.HasPrefix(parts[5], "role/") {
		name := parts[5][strings.LastIndex(parts[5], "/")+1:]
		return fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/keyrotor", parts[1], parts[4], name)
	}
	return principal
}

func accountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 {
		return parts[4]
	}
	return ""
}
