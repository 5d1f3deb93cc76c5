package deployed

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Document is an IAM policy or KMS key policy.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one policy statement. Principal is kept as written (string or object).
type Statement struct {
	Sid       string                           `json:"Sid,omitempty"`
	Effect    string                           `json:"Effect"`
	Principal json.RawMessage                  `json:"Principal,omitempty"`
	Action    StringList                       `json:"Action,omitempty"`
	NotAction StringList                       `json:"NotAction,omitempty"`
	Resource  StringList                       `json:"Resource,omitempty"`
	Condition map[string]map[string]StringList `json:"Condition,omitempty"`
}

// StringList is a policy value that may be written as one string or a list of strings.
type StringList []string

// UnmarshalJSON accepts "a" or ["a", "b"].
func (l *StringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = StringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("policy value must be a string or a list of strings: %s", b)
	}
	*l = many
	return nil
}

// StatementBySid returns the statement with the given Sid.
func (d Document) StatementBySid(sid string) (Statement, bool) {
	for _, s := range d.Statement {
		if s.Sid == sid {
			return s, true
		}
	}
	return Statement{}, false
}

// JSON renders the document compactly, as IAM stores it.
func (d Document) JSON() ([]byte, error) {
	return json.Marshal(d)
}

// AllowedActions lists the actions the document's Allow statements grant, sorted and unique:
// what a role may call, e.g. for a policy that moto enforces by action only.
func (d Document) AllowedActions() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range d.Statement {
		if s.Effect != "Allow" {
			continue
		}
		for _, a := range s.Action {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	sort.Strings(out)
	return out
}

// KMSKeyARN is the ARN of KMS key id in an account and region.
func KMSKeyARN(partition, region, accountID, id string) string {
	return fmt.Sprintf("arn:%s:kms:%s:%s:key/%s", partition, region, accountID, id)
}

// ParameterARN is the ARN of the SSM parameter name (which starts with "/") in an account
// and region.
func ParameterARN(partition, region, accountID, name string) string {
	return fmt.Sprintf("arn:%s:ssm:%s:%s:parameter%s", partition, region, accountID, name)
}

// UserARN is the ARN of the IAM user name under path (which starts and ends with "/").
func UserARN(partition, accountID, path, name string) string {
	return fmt.Sprintf("arn:%s:iam::%s:user%s%s", partition, accountID, path, name)
}
