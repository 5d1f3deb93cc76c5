package faultproxy

import (
	"encoding/xml"
	"fmt"
	"strings"
	"time"
)

// A rate limit holds one service's requests to a fixed rate, as AWS holds an account's
// requests to IAM: a token bucket that refills at PerSecond up to Burst tokens; a request that
// finds no token is answered as AWS answers throttling — HTTP 400 with code Throttling and
// message "Rate exceeded" on the query protocols (IAM, STS), ThrottlingException on the JSON
// ones — without reaching moto. AWS's own description of the answer: "Throttling: Rate
// exceeded, status code: 400" (re:Post knowledge center, iam-sts-throttling-error). The Go
// SDK's retryer counts both codes as throttling (retry.DefaultThrottleErrorCodes) and backs
// off, so callers slow down as they would on AWS.
//
// A limit applies to calls that would reach moto: a call that a Rule faults, or that a key
// not yet propagated signs, takes no token.
//
// IAM's request quotas are an account's (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html:
// "IAM and AWS STS ... quotas ... per account"), so a limit may be PerAccount: each account
// then has a bucket of its own, and calls in ten accounts run at ten times the rate. The
// account of a call is its signer's: a key that an AssumeRole answer through this proxy gave
// belongs to the role's account, a key CreateAccessKey made to its creator's account, and any
// other key to the default account ("").

// RateLimit is one service's token bucket.
type RateLimit struct {
	Service   string  // SigV4 service name, e.g. iam
	PerSecond float64 // tokens added per second
	Burst     int     // bucket size: calls allowed at once after a quiet spell (at least 1)
	// PerAccount gives each account its own bucket of this rate and size.
	PerAccount bool
}

type bucket struct {
	RateLimit
	tokens float64
	last   time.Time
}

// take refills the bucket for the time since its last use and takes a token if there is one.
func (b *bucket) take(now time.Time) bool {
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(float64(b.Burst), b.tokens+elapsed*b.PerSecond)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// SetRateLimit holds the requests to l.Service to l.PerSecond (a full bucket of l.Burst to
// start); a limit of 0 per second removes the service's limit.
func (p *Proxy) SetRateLimit(l RateLimit) error {
	if l.Service == "" {
		return fmt.Errorf("rate limit: no service named")
	}
	if l.PerSecond < 0 {
		return fmt.Errorf("rate limit of %s: %g per second is negative", l.Service, l.PerSecond)
	}
	l.Burst = max(l.Burst, 1)
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, b := range p.accountLimits {
		if b.Service == l.Service {
			delete(p.accountLimits, k)
		}
	}
	if l.PerSecond == 0 {
		delete(p.limits, l.Service)
		return nil
	}
	if p.limits == nil {
		p.limits = map[string]*bucket{}
	}
	p.limits[l.Service] = &bucket{RateLimit: l, tokens: float64(l.Burst), last: p.now()}
	return nil
}

// RateLimits returns the limits in force.
func (p *Proxy) RateLimits() []RateLimit {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []RateLimit
	for _, b := range p.limits {
		out = append(out, b.RateLimit)
	}
	return out
}

// overRateLocked reports whether a call to service in account finds its bucket empty (taking
// a token when it does not).
func (p *Proxy) overRateLocked(service, account string) bool {
	b, ok := p.limits[service]
	if !ok {
		return false
	}
	if b.PerAccount {
		key := service + "/" + account
		ab, ok := p.accountLimits[key]
		if !ok {
			if p.accountLimits == nil {
				p.accountLimits = map[string]*bucket{}
			}
			ab = &bucket{RateLimit: b.RateLimit, tokens: float64(b.Burst), last: p.now()}
			p.accountLimits[key] = ab
		}
		b = ab
	}
	return !b.take(p.now())
}

// learnAssumedRole records the account of the temporary key an AssumeRole answer gives.
func (p *Proxy) learnAssumedRole(body []byte) {
	s, ok := parseAssumeRoleAnswer(body)
	if !ok || s.account == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.accountOf[s.keyID] = s.account
}

// assumedSession is what an AssumeRole answer says of the session it hands out: its temporary
// key, and the account and role of its AssumedRoleUser ARN
// (arn:aws:sts::<account>:assumed-role/<role name>/<session name>,
// https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumedRoleUser.html).
type assumedSession struct {
	keyID, account, role string
}

// parseAssumeRoleAnswer reads an AssumeRole answer's body; ok is false when it holds no key.
func parseAssumeRoleAnswer(body []byte) (s assumedSession, ok bool) {
	var out struct {
		KeyID string `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
		Arn   string `xml:"AssumeRoleResult>AssumedRoleUser>Arn"`
	}
	if xml.Unmarshal(body, &out) != nil || out.KeyID == "" {
		return s, false
	}
	s.keyID = out.KeyID
	if parts := strings.Split(out.Arn, ":"); len(parts) >= 5 {
		s.account = parts[4]
	}
	if parts := strings.Split(out.Arn, "/"); len(parts) >= 3 {
		s.role = parts[len(parts)-2]
	}
	return s, true
}
