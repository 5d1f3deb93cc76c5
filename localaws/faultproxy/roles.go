package faultproxy

import (
	"fmt"
	"strings"
	"time"
)

// IAM is eventually consistent: "Any change that you make in IAM ... takes time to become
// visible from all possible endpoints", and a role just created or changed may not yet be
// usable ("Changes that I make are not always immediately visible", IAM User Guide,
// Troubleshoot IAM). SetRoleDelay plays that for roles, each of a role's two policies on its
// own clock: sts:AssumeRole is decided by the role's trust policy, a session's calls by its
// permissions policies ("Roles terms and concepts", IAM User Guide). After CreateRole (both) or
// UpdateAssumeRolePolicy (trust) of a role through the proxy, sts:AssumeRole of it is refused
// AccessDenied until d has passed on the consistency clock (SetConsistencyClock); after
// CreateRole or PutRolePolicy (permissions), every call signed by a session of it is. So a
// policy changed under a running rotation refuses the calls of the session it already holds,
// while AssumeRole goes on succeeding. Roles are told apart by name: the local accounts use one
// role name per account at most for each purpose.
func (p *Proxy) SetRoleDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.roleDelay = d
}

// roleChange is when a role's trust and its permissions last changed.
type roleChange struct{ trust, permissions time.Time }

// roleChanges are the IAM actions after which a role's trust, permissions or both propagate.
var roleChanges = map[string]struct{ trust, permissions bool }{
	"CreateRole": {true, true}, "UpdateAssumeRolePolicy": {trust: true}, "PutRolePolicy": {permissions: true},
}

// roleNotYetLocked reports the role whose recent change refuses req, or "".
func (p *Proxy) roleNotYetLocked(req request) string {
	if p.roleDelay <= 0 {
		return ""
	}
	role := p.sessions[req.accessKeyID]
	change := p.roleChanged[role]
	changed := change.permissions
	if req.service == "sts" && req.action == "AssumeRole" {
		arn, _ := req.params["RoleArn"].(string)
		role = roleName(arn)
		change = p.roleChanged[role]
		changed = change.trust
	}
	if role == "" || changed.IsZero() || !p.iamNow().Before(changed.Add(p.roleDelay)) {
		return ""
	}
	return role
}

// learnRole notes a successful call that changes a role or hands out a session of one.
func (p *Proxy) learnRole(req request, body []byte) {
	switch {
	case req.service == "iam":
		what, ok := roleChanges[req.action]
		name, _ := req.params["RoleName"].(string)
		if !ok || name == "" {
			return
		}
		p.mu.Lock()
		change, now := p.roleChanged[name], p.iamNow()
		if what.trust {
			change.trust = now
		}
		if what.permissions {
			change.permissions = now
		}
		p.roleChanged[name] = change
		p.mu.Unlock()
	case req.service == "sts" && req.action == "AssumeRole":
		s, ok := parseAssumeRoleAnswer(body)
		if !ok || s.role == "" {
			return
		}
		p.mu.Lock()
		p.sessions[s.keyID] = s.role
		p.mu.Unlock()
	}
}

// roleName is the name of a role ARN (arn:aws:iam::123456789012:role/path/name).
func roleName(arn string) string {
	_, rest, ok := strings.Cut(arn, ":role/")
	if !ok {
		return ""
	}
	return rest[strings.LastIndex(rest, "/")+1:]
}

// roleDenied is IAM's answer to a call the role may not make yet.
func roleDenied(req request, role string) *response {
	what := req.service + ":" + req.action
	if req.service == "sts" && req.action == "AssumeRole" {
		arn, _ := req.params["RoleArn"].(string)
		return authError(req, "AccessDenied", fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s", req.accessKeyID, what, arn))
	}
	return authError(req, "AccessDenied", fmt.Sprintf("User: assumed-role/%s is not authorized to perform: %s", role, what))
}
