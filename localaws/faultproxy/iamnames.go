package faultproxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// IAM's user names are case-insensitive: "IAM user, group, role, and policy names must be
// unique within the account. Names are not distinguished by case. For example, you cannot
// create resources named both "MyResource" and "myresource"" (CreateUser's UserName,
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateUser.html), so a request
// naming VICTIM reaches the user victim. moto 5 compares names as they are spelled: it answers
// NoSuchEntity for VICTIM and would create a second user VICTIM beside victim. The proxy plays
// IAM here: a request whose UserName moto does not find is sent again under the spelling of
// the account's user that differs only in case, and a CreateUser naming such a user is refused
// EntityAlreadyExists. Both need the caller's own credentials, so that moto authorizes the
// request as the caller's (the proxy re-signs it): the proxy knows those it saw made
// (AssumeRole, CreateAccessKey) and those given to AddCredentials; a caller it cannot sign for
// gets moto's case-sensitive answer.

// AddCredentials lets the proxy sign as these callers (credentials made outside it, such as
// moto's administrator), for IAM's case-insensitive user names.
func (p *Proxy) AddCredentials(creds ...aws.Credentials) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range creds {
		p.creds[c.AccessKeyID] = c
	}
}

func (p *Proxy) credentialsOf(accessKeyID string) (aws.Credentials, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.creds[accessKeyID]
	return c, ok
}

// learnSessionCredentials keeps the credentials of an AssumeRole answer.
func (p *Proxy) learnSessionCredentials(body []byte) {
	var out struct {
		ID     string `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
		Secret string `xml:"AssumeRoleResult>Credentials>SecretAccessKey"`
		Token  string `xml:"AssumeRoleResult>Credentials>SessionToken"`
	}
	if xml.Unmarshal(body, &out) != nil || out.ID == "" || out.Secret == "" {
		return
	}
	p.AddCredentials(aws.Credentials{AccessKeyID: out.ID, SecretAccessKey: out.Secret, SessionToken: out.Token})
}

var scopeRegionRE = regexp.MustCompile(`Credential=[^/,\s]+/[^/]+/([^/]+)/`)

// otherCaseUser answers an IAM request that moto answered NoSuchEntity (or, for CreateUser,
// is about to serve) when the account has a user whose name differs from the request's
// UserName only in case: the request again under that name (found is that name), or for
// CreateUser EntityAlreadyExists. nil: no such user, or no credentials to ask with.
func (p *Proxy) otherCaseUser(ctx context.Context, r *http.Request, req request, body []byte) (resp *response, found string) {
	name, _ := req.params["UserName"].(string)
	creds, ok := p.credentialsOf(req.accessKeyID)
	if name == "" || !ok {
		return nil, ""
	}
	region := "us-east-1"
	if m := scopeRegionRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		region = m[1]
	}
	list, err := p.signed(ctx, creds, region, url.Values{"Action": {"ListUsers"}, "Version": {"2010-05-08"}})
	if err != nil || list.status != http.StatusOK {
		return nil, ""
	}
	var users struct {
		Names []string `xml:"ListUsersResult>Users>member>UserName"`
	}
	if xml.Unmarshal(list.body, &users) != nil {
		return nil, ""
	}
	for _, n := range users.Names {
		if n != name && strings.EqualFold(n, name) {
			found = n
		}
	}
	if found == "" {
		return nil, ""
	}
	if req.action == "CreateUser" {
		return errorResponse(req, http.StatusConflict, "EntityAlreadyExists", fmt.Sprintf("User with name %s already exists.", found)), found
	}
	values, err := url.ParseQuery(string(body))
	if err != nil || values.Get("UserName") != name {
		return nil, ""
	}
	values.Set("UserName", found)
	again, err := p.signed(ctx, creds, region, values)
	if err != nil {
		return nil, ""
	}
	return again, found
}

// signed sends an IAM query request to moto signed with creds.
func (p *Proxy) signed(ctx context.Context, creds aws.Credentials, region string, values url.Values) (*response, error) {
	body := values.Encode()
	target := *p.backend
	target.Path = "/"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "iam", region, time.Now()); err != nil {
		return nil, fmt.Errorf("sign %s: %w", values.Get("Action"), err)
	}
	return p.roundTrip(req)
}
