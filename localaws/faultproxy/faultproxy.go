// Package faultproxy is an HTTP proxy put in front of moto server. It records every AWS call
// (who made it and with which parameters), makes keys created through it fail authentication
// for a while (IAM's propagation delay), and injects faults chosen per service, action and
// call number: throttling, server errors, AccessDenied, hangs, and responses lost after the
// work was done. It can hold a service to a fixed request rate (SetRateLimit), answering the
// calls over it as AWS answers throttling. It also rewrites moto's authentication errors into
// the shape AWS uses, which the Go SDK can decode, and pages IAM ListUsers, which moto does not.
package faultproxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keyrotor/keyrotor/localaws/awsmodel"
)

// Fault is what the proxy answers instead of (or after) forwarding a call.
type Fault string

const (
	// Throttle answers 400 Throttling (query protocols) / ThrottlingException (JSON protocols).
	Throttle Fault = "Throttle"
	// ServerError answers HTTP 500 InternalFailure.
	ServerError Fault = "ServerError"
	// AccessDenied answers AccessDenied (query, 403) / AccessDeniedException (JSON, 400),
	// naming the action like AWS does.
	AccessDenied Fault = "AccessDenied"
	// ExpiredToken answers ExpiredToken (query, 403) / ExpiredTokenException (JSON, 400), as
	// AWS does for a request signed with a session whose credentials expired
	// (https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html).
	ExpiredToken Fault = "ExpiredToken"
	// Hang never answers; the request ends when the client gives up (or the proxy closes).
	Hang Fault = "Hang"
	// Pass forwards the call unchanged; with Rule.Report it observes a call without failing it.
	Pass Fault = "Pass"
)

// Rule selects calls and says what to do with them. The zero Service/Action match anything.
type Rule struct {
	Service string // SigV4 service name: iam, sts, ssm, kms, states
	Action  string // API action, e.g. CreateAccessKey
	// Skip lets this many matching calls through untouched; then the rule fires for Times calls
	// (0: for every later matching call). Rule{Action: "PutParameter", Skip: 1, Times: 1}
	// hits exactly the second PutParameter.
	Skip, Times int
	Fault       Fault
	// AfterBackend forwards the call to moto first and then answers with Fault: the work is
	// done but the caller sees a failure (a lost response).
	AfterBackend bool
	// Report, if set, is called with each call the rule fires on, after it was answered.
	Report func(Call)
}

// Call is one recorded AWS request. It never holds a secret access key.
type Call struct {
	Seq         int
	Time        time.Time
	Service     string
	Action      string
	AccessKeyID string         // the signer's key, from the SigV4 Authorization header
	Params      map[string]any // query/form values (string or []string) or the JSON body, secrets redacted
	Status      int
	ErrorCode   string // AWS error code of the answer, "" on success
	Fault       Fault  // the injected fault, "" if none
	Account     string // the signer's account as the proxy learned it ("": the default; ratelimit.go)
	RateLimited bool   // Fault is Throttle because the service's rate limit was reached
	// Refused is the message of a request the service's API model refuses (ValidationError,
	// ValidationException, ...), "" if the request satisfies it.
	Refused string
}

// Proxy is a running fault proxy.
type Proxy struct {
	// URL is the proxy's endpoint, to be used as the SDK's base endpoint.
	URL string

	backend  *url.URL
	server   *http.Server
	client   *http.Client
	closing  chan struct{}
	closeMux sync.Once

	mu      sync.Mutex
	rules   []*ruleState
	calls   []Call
	keys    map[string]time.Time // access key id → when CreateAccessKey returned it
	secrets []string             // secrets seen in CreateAccessKey responses, for redaction
	delay   time.Duration
	limits  map[string]*bucket // service → token bucket (ratelimit.go)
	models  *awsmodel.Checker  // AWS's API models: every request is checked before it is forwarded
	// roleDelay, roleChanged and sessions play IAM's eventual consistency for roles (roles.go).
	roleDelay   time.Duration
	roleChanged map[string]roleChange // role name → when its trust and permissions last changed
	sessions    map[string]string     // session access key id → its role's name
	// trust, principals and trustEval evaluate cross-account AssumeRole (trust.go).
	trust      map[string]string // role ARN → its trust policy
	principals map[string]string // access key id → its principal's ARN
	trustEval  *trustEvaluator
	now        func() time.Time
	// iamNow is the clock of IAM's eventual-consistency windows (the propagation delay): the
	// engine's clock, so that on a simulated clock the windows pass as its waits do.
	iamNow func() time.Time
	// accountLimits are the buckets of PerAccount limits, by service/account; accountOf the
	// account of each key the proxy saw made (ratelimit.go).
	accountLimits map[string]*bucket
	accountOf     map[string]string
	// creds are the callers the proxy may sign as (iamnames.go), by access key id.
	creds map[string]aws.Credentials
}

type ruleState struct {
	Rule
	seen int
}

// Start listens on a free loopback port and forwards to backend (moto's endpoint). Every
// request is first checked against its service's API model (awsmodel); one that breaks it is
// refused as the service refuses it, and never reaches moto, which stores what AWS would refuse.
func Start(backend string) (*Proxy, error) {
	u, err := url.Parse(backend)
	if err != nil {
		return nil, fmt.Errorf("parse backend %q: %w", backend, err)
	}
	models, err := awsmodel.NewChecker("proxy")
	if err != nil {
		return nil, fmt.Errorf("fault proxy: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	p := &Proxy{
		URL:       "http://" + l.Addr().String(),
		backend:   u,
		client:    &http.Client{Timeout: 60 * time.Second},
		closing:   make(chan struct{}),
		keys:      map[string]time.Time{},
		now:       time.Now,
		iamNow:    time.Now,
		models:    models,
		accountOf: map[string]string{},
		creds:     map[string]aws.Credentials{},

		roleChanged: map[string]roleChange{},
		sessions:    map[string]string{},
		trust:       map[string]string{},
		principals:  map[string]string{},
	}
	p.server = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.server.Serve(l) }()
	return p, nil
}

// Close stops the proxy, releasing hung requests.
func (p *Proxy) Close() {
	p.closeMux.Do(func() {
		close(p.closing)
		_ = p.server.Close()
		_ = p.models.WriteTally()
		p.mu.Lock()
		eval := p.trustEval
		p.mu.Unlock()
		if eval != nil {
			eval.close()
		}
	})
}

// ModelCounts returns how many requests were checked against AWS's API models and how many
// were refused.
func (p *Proxy) ModelCounts() (checked, refused int64) { return p.models.Counts() }

// Refusals returns the recorded calls the API models refused, oldest first.
func (p *Proxy) Refusals() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Call
	for _, c := range p.calls {
		if c.Refused != "" {
			out = append(out, c)
		}
	}
	return out
}

// SetPropagationDelay makes every key created through the proxy from now on fail with
// InvalidClientTokenId until d after its creation, as a new IAM key does while it propagates.
func (p *Proxy) SetPropagationDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// SetConsistencyClock sets the clock the propagation delay is measured on (nil: the wall
// clock). A local engine on a simulated clock passes its Now: a key created at T is then valid
// once the engine's clock passes T plus the delay, however little real time went by.
func (p *Proxy) SetConsistencyClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.iamNow = now
}

// AddRule appends a rule; for each call the first rule that fires decides.
func (p *Proxy) AddRule(r Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, &ruleState{Rule: r})
}

// ClearRules removes all rules.
func (p *Proxy) ClearRules() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// Calls returns the calls recorded so far, oldest first.
func (p *Proxy) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Call(nil), p.calls...)
}

// ResetCalls forgets the recorded calls.
func (p *Proxy) ResetCalls() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = nil
}

// request is what the proxy understands of an incoming AWS call.
type request struct {
	service, action, accessKeyID string
	json                         bool // awsJson protocol (X-Amz-Target) rather than query
	params                       map[string]any
}

var credentialRE = regexp.MustCompile(`Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/`)

func parseRequest(r *http.Request, body []byte) request {
	var req request
	if m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		req.accessKeyID, req.service = m[1], m[2]
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		req.json = true
		req.action = target[strings.LastIndex(target, ".")+1:]
		var params map[string]any
		if json.Unmarshal(body, &params) == nil {
			req.params = params
		}
		return req
	}
	values := r.URL.Query()
	if form, err := url.ParseQuery(string(body)); err == nil {
		for k, v := range form {
			values[k] = append(values[k], v...)
		}
	}
	req.action = values.Get("Action")
	req.params = map[string]any{}
	for k, v := range values {
		if len(v) == 1 {
			req.params[k] = v[0]
		} else {
			req.params[k] = v
		}
	}
	return req
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
		return
	}
	req := parseRequest(r, body)
	call := Call{Time: p.now(), Service: req.service, Action: req.action, AccessKeyID: req.accessKeyID}

	p.mu.Lock()
	rule := p.matchLocked(req)
	notYetValid := p.notYetValidLocked(req.accessKeyID)
	deniedRole := p.roleNotYetLocked(req)
	faulted := rule != nil && rule.Fault != Pass && !rule.AfterBackend
	call.Account = p.accountOf[req.accessKeyID]
	overRate := !notYetValid && !faulted && p.overRateLocked(req.service, call.Account)
	p.mu.Unlock()

	// AWS authenticates a request before it validates it, and validates it before it acts.
	var refusal *awsmodel.Refusal
	if !notYetValid {
		if _, vs, _ := p.models.Check(req.service, awsmodel.FromHTTP(r, body)); len(vs) > 0 {
			rf := p.models.Models.Service(req.service).Refuse(vs, "keyrotor-faultproxy")
			refusal = &rf
			call.Refused = rf.Message
		}
	}

	var untrusted *response
	if !notYetValid && refusal == nil && deniedRole == "" && !faulted {
		untrusted = p.trustRefusal(req)
	}

	var resp *response
	switch {
	case notYetValid:
		resp = authError(req, "InvalidClientTokenId", "The security token included in the request is invalid.")
	case refusal != nil:
		resp = &response{status: refusal.Status, header: refusal.Header, body: refusal.Body, errorCode: refusal.Code}
	case deniedRole != "":
		call.Fault = AccessDenied
		resp = roleDenied(req, deniedRole)
	case untrusted != nil:
		call.Fault = AccessDenied
		resp = untrusted
	case rule != nil && rule.Fault == Hang && !rule.AfterBackend:
		call.Fault = Hang
		p.hang(r.Context())
		call.Status, call.ErrorCode = 0, "ClientGaveUp"
		p.record(req, call, rule)
		return
	case faulted:
		call.Fault = rule.Fault
		resp = faultResponse(req, rule.Fault)
	case overRate:
		call.Fault, call.RateLimited = Throttle, true
		resp = faultResponse(req, Throttle)
	default:
		if req.service == "iam" && req.action == "CreateUser" {
			if taken, _ := p.otherCaseUser(r.Context(), r, req, body); taken != nil {
				resp = taken // iamnames.go: IAM's names are case-insensitive
				break
			}
		}
		resp, err = p.forward(r, body)
		if err != nil {
			resp = &response{status: http.StatusBadGateway, header: http.Header{}, body: []byte(err.Error())}
			break
		}
		resp = normalizeAuthError(req, resp)
		if req.service == "iam" && resp.errorCode == "NoSuchEntity" {
			if again, _ := p.otherCaseUser(r.Context(), r, req, body); again != nil {
				resp = again
			}
		}
		if req.service == "iam" && req.action == "ListUsers" && resp.status == http.StatusOK {
			resp.body = pageListUsers(req, resp.body) // paging.go: moto answers every user at once
		}
		if req.service == "iam" && req.action == "CreateAccessKey" && resp.status == http.StatusOK {
			p.learnKey(resp.body, call.Account)
		}
		if req.service == "sts" && req.action == "AssumeRole" && resp.status == http.StatusOK {
			p.learnAssumedRole(resp.body)
			p.learnSessionCredentials(resp.body)
		}
		if resp.status == http.StatusOK {
			p.learnRole(req, resp.body)
			p.learnTrust(req, resp.body)
		}
		if rule != nil && rule.AfterBackend && rule.Fault != Pass {
			call.Fault = rule.Fault
			if rule.Fault == Hang {
				p.hang(r.Context())
				call.ErrorCode = "ClientGaveUp"
				p.record(req, call, rule)
				return
			}
			resp = faultResponse(req, rule.Fault)
		}
	}
	call.Status, call.ErrorCode = resp.status, resp.errorCode
	for k, v := range resp.header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
	p.record(req, call, rule)
}

func (p *Proxy) hang(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-p.closing:
	}
}

func (p *Proxy) record(req request, call Call, rule *ruleState) {
	p.mu.Lock()
	call.Params = p.redactLocked(req.params)
	call.Refused = p.redactValueLocked(call.Refused).(string)
	call.Seq = len(p.calls) + 1
	p.calls = append(p.calls, call)
	p.mu.Unlock()
	if rule != nil && rule.Report != nil {
		rule.Report(call)
	}
}

func (p *Proxy) matchLocked(req request) *ruleState {
	for _, r := range p.rules {
		if (r.Service != "" && r.Service != req.service) || (r.Action != "" && r.Action != req.action) {
			continue
		}
		r.seen++
		if r.seen <= r.Skip || (r.Times > 0 && r.seen > r.Skip+r.Times) {
			continue
		}
		return r
	}
	return nil
}

func (p *Proxy) notYetValidLocked(accessKeyID string) bool {
	created, ok := p.keys[accessKeyID]
	return ok && p.iamNow().Before(created.Add(p.delay))
}

func (p *Proxy) learnKey(body []byte, account string) {
	var out struct {
		ID     string `xml:"CreateAccessKeyResult>AccessKey>AccessKeyId"`
		Secret string `xml:"CreateAccessKeyResult>AccessKey>SecretAccessKey"`
	}
	if xml.Unmarshal(body, &out) != nil || out.ID == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys[out.ID] = p.iamNow()
	if account != "" {
		p.accountOf[out.ID] = account
	}
	if out.Secret != "" {
		p.secrets = append(p.secrets, out.Secret, base64.StdEncoding.EncodeToString([]byte(out.Secret)))
		p.creds[out.ID] = aws.Credentials{AccessKeyID: out.ID, SecretAccessKey: out.Secret}
	}
}

// Redacted replaces every secret value in recorded parameters.
const Redacted = "[redacted]"

// secretParams are parameters that carry a secret or a value derived from one.
var secretParams = map[string]bool{"SecretAccessKey": true, "Plaintext": true, "Value": true}

func (p *Proxy) redactLocked(params map[string]any) map[string]any {
	if params == nil {
		return nil
	}
	out := make(map[string]any, len(params))
	for k, v := range params {
		if secretParams[k] {
			out[k] = Redacted
			continue
		}
		out[k] = p.redactValueLocked(v)
	}
	return out
}

func (p *Proxy) redactValueLocked(v any) any {
	switch v := v.(type) {
	case string:
		for _, s := range p.secrets {
			v = strings.ReplaceAll(v, s, Redacted)
		}
		return v
	case []string:
		out := make([]string, len(v))
		for i, s := range v {
			out[i] = p.redactValueLocked(s).(string)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, s := range v {
			out[i] = p.redactValueLocked(s)
		}
		return out
	case map[string]any:
		return p.redactLocked(v)
	default:
		return v
	}
}

type response struct {
	status    int
	header    http.Header
	body      []byte
	errorCode string
}

func (p *Proxy) forward(r *http.Request, body []byte) (*response, error) {
	target := *p.backend
	target.Path, target.RawQuery = r.URL.Path, r.URL.RawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, target.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build backend request: %w", err)
	}
	for k, v := range r.Header {
		out.Header[k] = v
	}
	// SigV4 signs the Host header; moto must see the one the client signed.
	out.Host = r.Host
	return p.roundTrip(out)
}

// roundTrip sends a request to moto and keeps its answer, less the headers the proxy sets anew.
func (p *Proxy) roundTrip(req *http.Request) (*response, error) {
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read backend response: %w", err)
	}
	header := resp.Header.Clone()
	header.Del("Content-Length")
	header.Del("Connection")
	return &response{status: resp.StatusCode, header: header, body: data, errorCode: errorCode(data)}, nil
}

var codeRE = regexp.MustCompile(`<Code>([^<]+)</Code>|"__type"\s*:\s*"(?:[^"#]*#)?([^"]+)"`)

func errorCode(body []byte) string {
	m := codeRE.FindSubmatch(body)
	if m == nil {
		return ""
	}
	return string(m[1]) + string(m[2])
}

// jsonAuthCodes are the codes AWS's JSON-protocol services use for moto's query-style ones.
var jsonAuthCodes = map[string]string{
	"InvalidClientTokenId":  "UnrecognizedClientException",
	"SignatureDoesNotMatch": "InvalidSignatureException",
	"AccessDenied":          "AccessDeniedException",
}

// normalizeAuthError rewrites moto's `<ErrorResponse><Errors><Error>` authentication answers,
// which the Go SDK cannot decode, into the error shape of the request's protocol.
func normalizeAuthError(req request, resp *response) *response {
	if resp.status < 400 || !bytes.Contains(resp.body, []byte("<Errors><Error>")) {
		return resp
	}
	var e struct {
		Code    string `xml:"Errors>Error>Code"`
		Message string `xml:"Errors>Error>Message"`
	}
	if xml.Unmarshal(resp.body, &e) != nil || e.Code == "" {
		return resp
	}
	return authError(req, e.Code, e.Message)
}

func authError(req request, code, message string) *response {
	if req.json {
		if c, ok := jsonAuthCodes[code]; ok {
			code = c
		}
		return errorResponse(req, http.StatusBadRequest, code, message)
	}
	return errorResponse(req, http.StatusForbidden, code, message)
}

func faultResponse(req request, f Fault) *response {
	switch f {
	case Throttle:
		code := "Throttling"
		if req.json {
			code = "ThrottlingException"
		}
		return errorResponse(req, http.StatusBadRequest, code, "Rate exceeded")
	case AccessDenied:
		msg := fmt.Sprintf("User: %s is not authorized to perform: %s:%s", req.accessKeyID, req.service, req.action)
		return authError(req, "AccessDenied", msg)
	case ExpiredToken:
		if req.json {
			return errorResponse(req, http.StatusBadRequest, "ExpiredTokenException", "The security token included in the request is expired")
		}
		return errorResponse(req, http.StatusForbidden, "ExpiredToken", "The security token included in the request is expired")
	default:
		return errorResponse(req, http.StatusInternalServerError, "InternalFailure", "injected server error")
	}
}

func errorResponse(req request, status int, code, message string) *response {
	header := http.Header{"X-Amzn-Requestid": {"keyrotor-faultproxy"}}
	var body []byte
	if req.json {
		header.Set("Content-Type", "application/x-amz-json-1.1")
		header.Set("X-Amzn-Errortype", code)
		body = awsmodel.JSONErrorBody(code, message)
	} else {
		header.Set("Content-Type", "text/xml")
		body = awsmodel.QueryErrorBody(code, message, "keyrotor-faultproxy")
	}
	return &response{status: status, header: header, body: body, errorCode: code}
}
