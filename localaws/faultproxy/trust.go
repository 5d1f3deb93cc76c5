package faultproxy

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Trust policies. moto checks a role's trust policy only for a caller of the role's own
// account, so a cross-account sts:AssumeRole with a wrong trust policy succeeds locally where
// AWS refuses it: a cross-account AssumeRole needs the role's trust policy to allow the caller
// ("Cross-account policy evaluation logic", IAM User Guide), and an AssumeRole with session
// tags also needs sts:TagSession allowed there ("Passing session tags in AWS STS", IAM User
// Guide). EnableTrustPolicies makes the proxy evaluate both with @cloud-copilot/iam-simulate
// (full IAM evaluation: principals, conditions, policy variables) and refuse AccessDenied as
// STS does. It knows the trust policies of roles created (CreateRole) or changed
// (UpdateAssumeRolePolicy) through the proxy, and the principal of a caller whose session was
// assumed through the proxy or named with SetPrincipal; a call it cannot place is left to moto.
// The caller's own identity policies are moto's to check (they are not evaluated here).

//go:embed trust.cjs
var trustScript string

// EnableTrustPolicies turns trust-policy evaluation on; iamSimulateDir is the package
// directory of @cloud-copilot/iam-simulate (node_modules/@cloud-copilot/iam-simulate), run
// with the node on PATH.
func (p *Proxy) EnableTrustPolicies(iamSimulateDir string) error {
	iamSimulateDir, err := filepath.Abs(iamSimulateDir) // node resolves it from a temporary file
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(iamSimulateDir, "package.json")); err != nil {
		return fmt.Errorf("faultproxy: @cloud-copilot/iam-simulate is not at %s: %w", iamSimulateDir, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("faultproxy: trust policies need Node.js (20+) on PATH: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trustEval = &trustEvaluator{node: node, lib: iamSimulateDir}
	return nil
}

// SetPrincipal names the principal (an IAM role or user ARN) whose credentials are
// accessKeyID, for callers whose session did not come through the proxy.
func (p *Proxy) SetPrincipal(accessKeyID, principalARN string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.principals[accessKeyID] = principalARN
}

// learnTrust notes a trust policy a successful CreateRole or UpdateAssumeRolePolicy set, and
// the role whose session an AssumeRole handed out.
func (p *Proxy) learnTrust(req request, body []byte) {
	switch {
	case req.service == "iam" && req.action == "CreateRole":
		var out struct {
			Arn string `xml:"CreateRoleResult>Role>Arn"`
		}
		doc, _ := req.params["AssumeRolePolicyDocument"].(string)
		if xml.Unmarshal(body, &out) != nil || out.Arn == "" {
			return
		}
		p.mu.Lock()
		p.trust[out.Arn] = doc
		p.mu.Unlock()
	case req.service == "iam" && req.action == "UpdateAssumeRolePolicy":
		name, _ := req.params["RoleName"].(string)
		doc, _ := req.params["PolicyDocument"].(string)
		p.mu.Lock()
		defer p.mu.Unlock()
		account := p.accountOf[req.accessKeyID]
		if principal := p.principals[req.accessKeyID]; account == "" && principal != "" {
			account = accountOfARN(principal)
		}
		for arn := range p.trust {
			// The role of that name in the caller's account (every one of that name when the
			// caller's account is unknown).
			if roleName(arn) == name && (account == "" || accountOfARN(arn) == account) {
				p.trust[arn] = doc
			}
		}
	case req.service == "sts" && req.action == "AssumeRole":
		var out struct {
			KeyID string `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
		}
		role, _ := req.params["RoleArn"].(string)
		if xml.Unmarshal(body, &out) != nil || out.KeyID == "" || role == "" {
			return
		}
		p.mu.Lock()
		p.principals[out.KeyID] = role // aws:PrincipalArn of a role session is the role's ARN
		p.mu.Unlock()
	}
}

// trustRefusal is STS's refusal of a cross-account AssumeRole the role's trust policy does not
// allow, or nil (allowed, or not one the proxy can place).
func (p *Proxy) trustRefusal(req request) *response {
	if req.service != "sts" || req.action != "AssumeRole" {
		return nil
	}
	role, _ := req.params["RoleArn"].(string)
	p.mu.Lock()
	eval, doc, principal := p.trustEval, p.trust[role], p.principals[req.accessKeyID]
	p.mu.Unlock()
	if eval == nil || doc == "" || principal == "" || accountOfARN(principal) == accountOfARN(role) {
		return nil
	}
	base := map[string]any{"aws:PrincipalArn": principal, "aws:PrincipalAccount": accountOfARN(principal)}
	assume := map[string]any{}
	for k, v := range base {
		assume[k] = v
	}
	if id, _ := req.params["ExternalId"].(string); id != "" {
		assume["sts:ExternalId"] = id
	}
	if name, _ := req.params["RoleSessionName"].(string); name != "" {
		assume["sts:RoleSessionName"] = name
	}
	tags := requestTags(req.params)
	checks := []SimulationRequest{{Action: "sts:AssumeRole", Context: assume}}
	if len(tags) > 0 {
		tagging := map[string]any{}
		for k, v := range base {
			tagging[k] = v
		}
		var keys []string
		for k, v := range tags {
			assume["aws:RequestTag/"+k], tagging["aws:RequestTag/"+k] = v, v
			keys = append(keys, k)
		}
		sort.Strings(keys)
		assume["aws:TagKeys"], tagging["aws:TagKeys"] = keys, keys
		checks = append(checks, SimulationRequest{Action: "sts:TagSession", Context: tagging})
	}
	for _, c := range checks {
		c.Principal, c.Resource, c.AccountID = principal, role, accountOfARN(role)
		c.IdentityPolicies = []NamedPolicy{{Name: "caller", Policy: json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)}}
		c.ResourcePolicy = json.RawMessage(doc)
		result, err := eval.evaluate(c)
		if err != nil {
			return errorResponse(req, 500, "InternalError", "faultproxy: trust policy evaluation: "+err.Error())
		}
		if result != "Allowed" {
			return authError(req, "AccessDenied", fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s (its trust policy does not allow it)", principal, c.Action, role))
		}
	}
	return nil
}

// requestTags are the session tags of an AssumeRole request (Query form: Tags.member.N.Key).
func requestTags(params map[string]any) map[string]string {
	tags := map[string]string{}
	for k, v := range params {
		if !strings.HasPrefix(k, "Tags.member.") || !strings.HasSuffix(k, ".Key") {
			continue
		}
		key, _ := v.(string)
		value, _ := params[strings.TrimSuffix(k, ".Key")+".Value"].(string)
		tags[key] = value
	}
	return tags
}

// accountOfARN is the account field of an ARN.
func accountOfARN(arn string) string {
	if parts := strings.SplitN(arn, ":", 6); len(parts) == 6 {
		return parts[4]
	}
	return ""
}

// trustEvaluator runs trust.cjs once, lazily, and asks it one request at a time.
type trustEvaluator struct {
	node, lib string

	mu     sync.Mutex
	cmd    *exec.Cmd
	script string // trust.cjs written out for node, removed when it stops
	in     *bufio.Writer
	out    *bufio.Reader
}

func (e *trustEvaluator) evaluate(req SimulationRequest) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cmd == nil {
		if err := e.start(); err != nil {
			return "", err
		}
	}
	line, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	if _, err := e.in.Write(append(line, '\n')); err == nil {
		err = e.in.Flush()
	}
	if err != nil {
		e.stop()
		return "", fmt.Errorf("write to iam-simulate: %w", err)
	}
	answer, err := e.out.ReadBytes('\n')
	if err != nil {
		e.stop()
		return "", fmt.Errorf("read from iam-simulate: %w", err)
	}
	var res struct{ Result, Error string }
	if err := json.Unmarshal(answer, &res); err != nil {
		return "", fmt.Errorf("iam-simulate answered %q: %w", answer, err)
	}
	if res.Error != "" {
		return "", errors.New(res.Error)
	}
	return res.Result, nil
}

func (e *trustEvaluator) start() error {
	script, err := os.CreateTemp("", "faultproxy-trust-*.cjs")
	if err != nil {
		return err
	}
	if _, err := script.WriteString(SimulationScript + trustScript); err != nil {
		script.Close()
		os.Remove(script.Name())
		return err
	}
	script.Close()
	e.script = script.Name()
	cmd := exec.Command(e.node, script.Name(), e.lib)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		os.Remove(e.script)
		return fmt.Errorf("start iam-simulate: %w", err)
	}
	e.cmd, e.in, e.out = cmd, bufio.NewWriter(stdin), bufio.NewReader(stdout)
	return nil
}

func (e *trustEvaluator) stop() {
	if e.cmd != nil {
		_ = e.cmd.Process.Kill()
		_ = e.cmd.Wait()
		e.cmd = nil
		os.Remove(e.script)
	}
}

// close ends the evaluator's node process.
func (e *trustEvaluator) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stop()
}
