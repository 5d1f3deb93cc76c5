package leastprivilege

import (
	"fmt"
	"sort"
	"strings"

	"github.com/keyrotor/keyrotor/internal/deployed"
)

// Account describes where calls are made and what authorization needs to know beyond a
// request's own parameters.
type Account struct {
	Partition, Region, AccountID string
	UserPath                     string // IAM path of the users that requests name by UserName
	// UserTags returns the tags of an IAM user: IAM checks iam:ResourceTag/<key> against them.
	UserTags func(user string) map[string]string
	// KeyOwner returns the user owning an access key (GetAccessKeyLastUsed names only the key).
	KeyOwner func(accessKeyID string) string
	// ParameterKey returns the KMS key ARN of a SecureString parameter, "" for a String one:
	// a read with decryption makes SSM call kms:Decrypt with the caller's permissions.
	ParameterKey func(name string) string
}

// FromRequest turns one AWS API request — the service as SigV4 names it, the API action and its
// parameters as internal/faultproxy records them (query values or the JSON body) — into the
// calls IAM authorizes: the call itself and, for SecureString parameters, the KMS call SSM
// makes on the caller's behalf (kms:ViaService, encryption context PARAMETER_ARN).
func (a Account) FromRequest(principal, service, action string, params map[string]any) ([]Call, error) {
	call := Call{Principal: principal, Action: service + ":" + action, Context: map[string][]string{}}
	switch service {
	case "iam":
		if action == "ListUsers" {
			call.Resource = "*" // an action without a resource type: IAM authorizes it on "*"
			return []Call{call}, nil
		}
		user := param(params, "UserName")
		if user == "" && action == "GetAccessKeyLastUsed" && a.KeyOwner != nil {
			user = a.KeyOwner(param(params, "AccessKeyId"))
		}
		if user == "" {
			return nil, fmt.Errorf("%s: no UserName (a call on the caller's own keys is not one keyrotor makes)", call.Action)
		}
		call.Resource = a.userARN(user)
		if a.UserTags != nil {
			for k, v := range a.UserTags(user) {
				call.Context["iam:ResourceTag/"+k] = []string{v}
				call.Context["aws:ResourceTag/"+k] = []string{v}
			}
		}
		return []Call{call}, nil
	case "ssm":
		name := param(params, "Name")
		if name == "" && (action == "ListTagsForResource" || action == "AddTagsToResource") {
			name = param(params, "ResourceId") // ResourceType Parameter: the parameter's name
		}
		if name == "" {
			return nil, fmt.Errorf("%s: no Name", call.Action)
		}
		call.Resource = a.parameterARN(name)
		calls := []Call{call}
		switch {
		case action == "PutParameter" && param(params, "Type") == "SecureString":
			key := param(params, "KeyId")
			if key == "" && a.ParameterKey != nil {
				key = a.ParameterKey(name)
			}
			if key == "" {
				return nil, fmt.Errorf("%s %s: SecureString without KeyId", call.Action, name)
			}
			calls = append(calls, a.viaSSM(principal, "kms:Encrypt", key, call.Resource))
		case (action == "GetParameter" || action == "GetParameterHistory") && param(params, "WithDecryption") == "true":
			if a.ParameterKey != nil {
				if key := a.ParameterKey(name); key != "" {
					calls = append(calls, a.viaSSM(principal, "kms:Decrypt", key, call.Resource))
				}
			}
		}
		return calls, nil
	case "kms":
		key := param(params, "KeyId")
		if key == "" {
			return nil, fmt.Errorf("%s: no KeyId (keyrotor always names its key)", call.Action)
		}
		call.Resource = a.keyARN(key)
		if ec, ok := params["EncryptionContext"].(map[string]any); ok && len(ec) > 0 {
			keys := make([]string, 0, len(ec))
			for k, v := range ec {
				call.Context["kms:EncryptionContext:"+k] = []string{fmt.Sprint(v)}
				keys = append(keys, k)
			}
			sort.Strings(keys)
			call.Context["kms:EncryptionContextKeys"] = keys
		}
		return []Call{call}, nil
	case "states":
		for _, p := range []string{"executionArn", "stateMachineArn"} {
			if v := param(params, p); v != "" {
				call.Resource = v
				return []Call{call}, nil
			}
		}
		return nil, fmt.Errorf("%s: no executionArn or stateMachineArn", call.Action)
	case "events":
		// PutEvents authorizes each entry on its bus, with events:source and events:detail-type
		// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html).
		entries, _ := params["Entries"].([]any)
		if action != "PutEvents" || len(entries) == 0 {
			return nil, fmt.Errorf("%s: keyrotor only puts events", call.Action)
		}
		var calls []Call
		for _, e := range entries {
			entry, _ := e.(map[string]any)
			bus := param(entry, "EventBusName")
			if bus == "" {
				bus = "default"
			}
			c := Call{Principal: principal, Action: call.Action, Context: map[string][]string{
				"events:source": {param(entry, "Source")}, "events:detail-type": {param(entry, "DetailType")}}}
			c.Resource = bus
			if !strings.HasPrefix(bus, "arn:") {
				c.Resource = fmt.Sprintf("arn:%s:events:%s:%s:event-bus/%s", a.Partition, a.Region, a.AccountID, bus)
			}
			calls = append(calls, c)
		}
		return calls, nil
	case "sts":
		call.Resource = "*"
		return []Call{call}, nil
	case "s3":
		// Object actions authorize on arn:<partition>:s3:::<bucket>/<key> (the fleet bucket).
		bucket, key := param(params, "Bucket"), param(params, "Key")
		if bucket == "" || key == "" {
			return nil, fmt.Errorf("%s: no Bucket and Key (keyrotor makes object calls only)", call.Action)
		}
		call.Resource = fmt.Sprintf("arn:%s:s3:::%s/%s", a.Partition, bucket, key)
		return []Call{call}, nil
	}
	return nil, fmt.Errorf("%s: service %q is not one keyrotor calls", call.Action, service)
}

func (a Account) viaSSM(principal, action, key, parameterARN string) Call {
	return Call{
		Principal: principal,
		Action:    action,
		Resource:  a.keyARN(key),
		Context: map[string][]string{
			"kms:ViaService":                      {"ssm." + a.Region + ".amazonaws.com"},
			"kms:CallerAccount":                   {a.AccountID},
			"kms:EncryptionContext:PARAMETER_ARN": {parameterARN},
			"kms:EncryptionContextKeys":           {"PARAMETER_ARN"},
		},
		Note: "made by SSM for " + parameterARN,
	}
}

func (a Account) userARN(user string) string {
	p := a.UserPath
	if p == "" {
		p = "/"
	}
	return deployed.UserARN(a.Partition, a.AccountID, p, user)
}

func (a Account) parameterARN(name string) string {
	if strings.HasPrefix(name, "arn:") {
		return name
	}
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	return deployed.ParameterARN(a.Partition, a.Region, a.AccountID, name)
}

func (a Account) keyARN(key string) string {
	if strings.HasPrefix(key, "arn:") {
		return key
	}
	return deployed.KMSKeyARN(a.Partition, a.Region, a.AccountID, key)
}

// param reads a request parameter: a string (or one-element list) from a query, or a JSON
// value (bools as "true"/"false").
func param(params map[string]any, name string) string {
	switch v := params[name].(type) {
	case string:
		return v
	case []string:
		if len(v) > 0 {
			return v[0]
		}
	case bool:
		if v {
			return "true"
		}
		return "false"
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
	return ""
}
