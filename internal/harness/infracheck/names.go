package infracheck

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// NameRule is AWS's rule for one kind of resource name.
type NameRule struct {
	Resource, Attribute string // aws_iam_role, name
	Source              string // where AWS states the rule
	Check               func(name string) error
}

// modelCheck checks a name against an API model's min, max and pattern, with a tighter
// documented maximum where the model's member also accepts ARNs (maxLen > 0).
func modelCheck(service, operation, member string, maxLen int, extra func(string) error) (func(string) error, string, error) {
	r, err := ModelRule(service, operation, member)
	if err != nil {
		return nil, "", err
	}
	max := r.Max
	if maxLen > 0 {
		max = maxLen
	}
	var re *regexp.Regexp
	if r.Pattern != "" && maxLen == 0 {
		if re, err = regexp.Compile("^(?:" + strings.TrimSuffix(strings.TrimPrefix(r.Pattern, "^"), "$") + ")$"); err != nil {
			return nil, "", fmt.Errorf("%s %s pattern %q: %w", service, r.Shape, r.Pattern, err)
		}
	}
	src := fmt.Sprintf("botocore %s model, %s.%s (%s: min %d, max %d, pattern %q)", service, operation, member, r.Shape, r.Min, r.Max, r.Pattern)
	return func(name string) error {
		n := len([]rune(name))
		if n < r.Min || (max > 0 && n > max) {
			return fmt.Errorf("%d characters, allowed %d-%d", n, r.Min, max)
		}
		if re != nil && !re.MatchString(name) {
			return fmt.Errorf("does not match %s", r.Pattern)
		}
		if extra != nil {
			return extra(name)
		}
		return nil
	}, src, nil
}

func charsetCheck(min, max int, allowed string) func(string) error {
	re := regexp.MustCompile("^[" + allowed + "]*$")
	return func(name string) error {
		if n := len(name); n < min || n > max {
			return fmt.Errorf("%d characters, allowed %d-%d", n, min, max)
		}
		if !re.MatchString(name) {
			return fmt.Errorf("holds a character outside [%s]", allowed)
		}
		return nil
	}
}

// BucketNameProblem checks S3's "General purpose bucket naming rules"
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
func BucketNameProblem(name string) error {
	switch {
	case len(name) < 3 || len(name) > 63:
		return fmt.Errorf("%d characters, allowed 3-63", len(name))
	case !regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`).MatchString(name):
		return fmt.Errorf("must hold only lowercase letters, digits, dots and hyphens, and begin and end with a letter or digit")
	case strings.Contains(name, ".."):
		return fmt.Errorf("must not hold two adjacent periods")
	case net.ParseIP(name) != nil:
		return fmt.Errorf("must not be formatted as an IP address")
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return fmt.Errorf("must not start with the reserved prefix %s", p)
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return fmt.Errorf("must not end with the reserved suffix %s", s)
		}
	}
	return nil
}

// NameRules are the naming rules of every resource kind whose name keyrotor's modules compute.
func NameRules() ([]NameRule, error) {
	type spec struct {
		resource, attr             string
		service, operation, member string
		maxLen                     int
		extra                      func(string) error
		doc                        string
		check                      func(string) error
	}
	notAWSAlias := func(n string) error {
		if !strings.HasPrefix(n, "alias/") || strings.HasPrefix(n, "alias/aws/") {
			return fmt.Errorf("must begin with alias/ and not alias/aws/")
		}
		return nil
	}
	specs := []spec{
		{resource: "aws_iam_role", attr: "name", service: "iam", operation: "CreateRole", member: "RoleName"},
		{resource: "aws_iam_role_policy", attr: "name", service: "iam", operation: "PutRolePolicy", member: "PolicyName"},
		{resource: "aws_iam_user", attr: "name", service: "iam", operation: "CreateUser", member: "UserName"},
		{resource: "aws_iam_user_policy", attr: "name", service: "iam", operation: "PutUserPolicy", member: "PolicyName"},
		// The model's FunctionName also takes ARNs (140); a name alone is at most 64 of
		// [a-zA-Z0-9-_]: https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html.
		{resource: "aws_lambda_function", attr: "function_name", service: "lambda", operation: "CreateFunction", member: "FunctionName", maxLen: 64,
			extra: charsetCheck(1, 64, `a-zA-Z0-9_-`)},
		{resource: "aws_cloudwatch_log_group", attr: "name", service: "logs", operation: "CreateLogGroup", member: "logGroupName"},
		{resource: "aws_cloudwatch_log_metric_filter", attr: "name", service: "logs", operation: "PutMetricFilter", member: "filterName"},
		// A name of [0-9A-Za-z_-] for CloudWatch Logs logging:
		// https://docs.aws.amazon.com/step-functions/latest/apireference/API_CreateStateMachine.html.
		{resource: "aws_sfn_state_machine", attr: "name", service: "stepfunctions", operation: "CreateStateMachine", member: "name", extra: charsetCheck(1, 80, `0-9A-Za-z_-`)},
		{resource: "aws_scheduler_schedule", attr: "name", service: "scheduler", operation: "CreateSchedule", member: "Name"},
		{resource: "aws_kms_alias", attr: "name", service: "kms", operation: "CreateAlias", member: "AliasName", extra: notAWSAlias},
		{resource: "aws_cloudwatch_metric_alarm", attr: "alarm_name", service: "cloudwatch", operation: "PutMetricAlarm", member: "AlarmName"},
		{resource: "aws_cloudwatch_event_rule", attr: "name", service: "events", operation: "PutRule", member: "Name"},
		{resource: "aws_sns_topic", attr: "name", doc: "https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html (1-256 ASCII letters, digits, _ and -)", check: charsetCheck(1, 256, `A-Za-z0-9_-`)},
		{resource: "aws_sqs_queue", attr: "name", doc: "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html (up to 80 alphanumerics, - and _)", check: charsetCheck(1, 80, `A-Za-z0-9_-`)},
		{resource: "aws_s3_bucket", attr: "bucket", doc: "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html", check: BucketNameProblem},
	}
	var rules []NameRule
	for _, s := range specs {
		if s.check != nil {
			rules = append(rules, NameRule{Resource: s.resource, Attribute: s.attr, Source: s.doc, Check: s.check})
			continue
		}
		check, src, err := modelCheck(s.service, s.operation, s.member, s.maxLen, s.extra)
		if err != nil {
			return nil, err
		}
		rules = append(rules, NameRule{Resource: s.resource, Attribute: s.attr, Source: src, Check: check})
	}
	return rules, nil
}

// RenderedName is one name a module computes, rendered for one set of inputs.
type RenderedName struct {
	Resource, Label, Key string
	Name                 string
}

// DeployContext is what Terraform knows of the deployment at plan time.
type DeployContext struct {
	Region, Partition, AccountID string
	Vars                         map[string]cty.Value // every variable the module reads
}

// nameFunctions are the Terraform functions keyrotor's name expressions and locals use.
var nameFunctions = map[string]function.Function{
	"substr":       stdlib.SubstrFunc,
	"replace":      replaceFunc,
	"lower":        stdlib.LowerFunc,
	"coalesce":     stdlib.CoalesceFunc,
	"concat":       stdlib.ConcatFunc,
	"keys":         stdlib.KeysFunc,
	"toset":        toSetFunc,
	"sha1":         sha1Func,
	"templatefile": templateFileFunc,
	"merge":        stdlib.MergeFunc,
	"flatten":      stdlib.FlattenFunc,
	"sort":         stdlib.SortFunc,
	"split":        stdlib.SplitFunc,
	"alltrue":      allTrueFunc,
	"join":         stdlib.JoinFunc,
	"length":       lengthFunc,
	"min":          stdlib.MinFunc,
}

// sha1Func is Terraform's sha1: the hex digest of the string's UTF-8 bytes.
var sha1Func = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "str", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		sum := sha1.Sum([]byte(args[0].AsString()))
		return cty.StringVal(hex.EncodeToString(sum[:])), nil
	},
})

// toSetFunc stands for Terraform's toset where only the elements matter (for_each keys).
var toSetFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType}},
	Type:   func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
	Impl:   func(args []cty.Value, _ cty.Type) (cty.Value, error) { return args[0], nil },
})

// templateFileFunc is Terraform's templatefile: the template's variables are vars' attributes.
var templateFileFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "path", Type: cty.String}, {Name: "vars", Type: cty.DynamicPseudoType}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		path := args[0].AsString()
		src, err := os.ReadFile(path)
		if err != nil {
			return cty.NilVal, fmt.Errorf("templatefile: %w", err)
		}
		expr, diags := hclsyntax.ParseTemplate(src, path, hcl.Pos{Line: 1, Column: 1})
		if diags.HasErrors() {
			return cty.NilVal, fmt.Errorf("templatefile %s: %w", path, diags)
		}
		v, diags := expr.Value(&hcl.EvalContext{Variables: args[1].AsValueMap(), Functions: map[string]function.Function{"jsonencode": stdlib.JSONEncodeFunc, "flatten": stdlib.FlattenFunc}})
		if diags.HasErrors() {
			return cty.NilVal, fmt.Errorf("templatefile %s: %w", path, diags)
		}
		return v, nil
	},
})

// replaceFunc is Terraform's replace: a /regex/ search replaces by regular expression.
var replaceFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "str", Type: cty.String}, {Name: "substr", Type: cty.String}, {Name: "replace", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		sub := args[1].AsString()
		if len(sub) > 1 && strings.HasPrefix(sub, "/") && strings.HasSuffix(sub, "/") {
			return stdlib.RegexReplace(args[0], cty.StringVal(sub[1:len(sub)-1]), args[2])
		}
		return stdlib.Replace(args[0], args[1], args[2])
	},
})

// EvalContext is the context Terraform would plan the module in for d: variables, the data
// sources' answers, and every local that evaluates from them (locals that refer to resources
// are left out).
func (m *Module) EvalContext(d DeployContext) *hcl.EvalContext {
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var": cty.ObjectVal(d.Vars),
			"data": cty.ObjectVal(map[string]cty.Value{
				"aws_region":          cty.ObjectVal(map[string]cty.Value{"current": cty.ObjectVal(map[string]cty.Value{"region": cty.StringVal(d.Region), "name": cty.StringVal(d.Region)})}),
				"aws_partition":       cty.ObjectVal(map[string]cty.Value{"current": cty.ObjectVal(map[string]cty.Value{"partition": cty.StringVal(d.Partition)})}),
				"aws_caller_identity": cty.ObjectVal(map[string]cty.Value{"current": cty.ObjectVal(map[string]cty.Value{"account_id": cty.StringVal(d.AccountID)})}),
			}),
			"path": cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(m.Dir), "root": cty.StringVal(m.Dir)}),
		},
		Functions: nameFunctions,
	}
	modules := map[string]cty.Value{}
	ctx.Variables["module"] = cty.ObjectVal(modules)
	m.ResolveLocals(ctx, func() {
		for _, b := range m.Find("module") {
			if outputs, ok := m.childOutputs(ctx, d, b); ok {
				modules[b.Labels[0]] = outputs
			}
		}
		ctx.Variables["module"] = cty.ObjectVal(modules)
	})
	return ctx
}

// ResolveLocals sets ctx's `local` to every local of m that evaluates in ctx to a known value
// (locals that refer to resources are left out). It evaluates them in rounds, so that a local
// built from other locals resolves; after each round, then (if not nil) may add to ctx what the
// next round can use.
func (m *Module) ResolveLocals(ctx *hcl.EvalContext, then func()) {
	locals := map[string]cty.Value{}
	for range 4 {
		ctx.Variables["local"] = cty.ObjectVal(locals)
		for _, b := range m.Find("locals") {
			for name, a := range b.Body.Attributes {
				if v, diags := a.Expr.Value(ctx); !diags.HasErrors() && v.IsWhollyKnown() {
					locals[name] = v
				}
			}
		}
		if then != nil {
			then()
		}
	}
	ctx.Variables["local"] = cty.ObjectVal(locals)
}

// childOutputs evaluates, as Terraform plans them, the outputs of a module call whose source
// is a directory of this repository (../inputs): its arguments in ctx, its variables' defaults
// for the rest. ok is false for another source or while an argument is not yet known.
func (m *Module) childOutputs(ctx *hcl.EvalContext, d DeployContext, call *hclsyntax.Block) (outputs cty.Value, ok bool) {
	src, diags := call.Body.Attributes["source"].Expr.Value(nil)
	if diags.HasErrors() || !strings.HasPrefix(src.AsString(), "../") && !strings.HasPrefix(src.AsString(), "./") {
		return cty.NilVal, false
	}
	child, err := LoadModule(filepath.Join(m.Dir, src.AsString()))
	if err != nil {
		return cty.NilVal, false
	}
	vars := map[string]cty.Value{}
	for _, v := range child.Find("variable") {
		name := v.Labels[0]
		expr := v.Body.Attributes["default"]
		if a, given := call.Body.Attributes[name]; given {
			expr = a
		}
		if expr == nil {
			return cty.NilVal, false
		}
		val, diags := expr.Expr.Value(ctx)
		if diags.HasErrors() || !val.IsWhollyKnown() {
			return cty.NilVal, false
		}
		vars[name] = val
	}
	cd := d
	cd.Vars = vars
	cctx := child.EvalContext(cd)
	out := map[string]cty.Value{}
	for _, o := range child.Find("output") {
		if v, diags := o.Body.Attributes["value"].Expr.Value(cctx); !diags.HasErrors() && v.IsWhollyKnown() {
			out[o.Labels[0]] = v
		}
	}
	return cty.ObjectVal(out), true
}

// Preconditions evaluates the lifecycle preconditions of resource typ.name that ctx can
// evaluate and returns the error messages of those that fail.
func (m *Module) Preconditions(ctx *hcl.EvalContext, typ, name string) ([]string, error) {
	blocks := m.Find("resource", typ, name)
	if len(blocks) != 1 {
		return nil, fmt.Errorf("resource %s.%s is declared %d times", typ, name, len(blocks))
	}
	var failed []string
	for _, lc := range blocks[0].Body.Blocks {
		if lc.Type != "lifecycle" {
			continue
		}
		for _, pc := range lc.Body.Blocks {
			if pc.Type != "precondition" {
				continue
			}
			cond, diags := pc.Body.Attributes["condition"].Expr.Value(ctx)
			if diags.HasErrors() || !cond.IsKnown() {
				// It reads what only apply knows (a resource, a data source left out of ctx).
				continue
			}
			if cond.True() {
				continue
			}
			msg, diags := pc.Body.Attributes["error_message"].Expr.Value(ctx)
			if diags.HasErrors() {
				return nil, fmt.Errorf("%s.%s error_message: %w", typ, name, diags)
			}
			failed = append(failed, msg.AsString())
		}
	}
	return failed, nil
}

// Names renders every name attribute of rules' resources in the module for d: locals that
// evaluate from variables and data sources alone are evaluated; for_each keys are the keys of
// the module's object locals.
func (m *Module) Names(d DeployContext, rules []NameRule) ([]RenderedName, error) {
	ctx := m.EvalContext(d)
	var out []RenderedName
	for _, r := range rules {
		for _, b := range m.Find("resource", r.Resource) {
			a, ok := b.Body.Attributes[r.Attribute]
			if !ok {
				continue
			}
			keys := []string{""}
			values := cty.NilVal // the for_each collection, when it evaluates: each.value
			if fe, ok := b.Body.Attributes["for_each"]; ok {
				if v, diags := fe.Expr.Value(ctx); !diags.HasErrors() && v.IsWhollyKnown() && (v.Type().IsMapType() || v.Type().IsObjectType()) {
					values = v
				}
				k, err := m.ObjectKeys(fe.Expr)
				if err != nil {
					// toset([...]) and the like: the evaluated collection's elements.
					if v, diags := fe.Expr.Value(ctx); !diags.HasErrors() && v.IsWhollyKnown() && v.CanIterateElements() {
						k, err = nil, nil
						for it := v.ElementIterator(); it.Next(); {
							_, e := it.Element()
							if e.Type() == cty.String {
								k = append(k, e.AsString())
							}
						}
					}
				}
				if err != nil && slices.Contains(References(a.Expr), "each.key") {
					return nil, fmt.Errorf("%s.%s: %w", r.Resource, b.Labels[1], err)
				}
				if err == nil {
					keys = k
				}
			}
			for _, k := range keys {
				ectx := ctx.NewChild()
				ectx.Variables = map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(k), "value": eachValue(values, k)})}
				v, diags := a.Expr.Value(ectx)
				if diags.HasErrors() {
					return nil, fmt.Errorf("%s.%s %s: %w", r.Resource, b.Labels[1], r.Attribute, diags)
				}
				if v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
					return nil, fmt.Errorf("%s.%s %s: not a known string", r.Resource, b.Labels[1], r.Attribute)
				}
				out = append(out, RenderedName{Resource: r.Resource, Label: b.Labels[1], Key: k, Name: v.AsString()})
			}
		}
	}
	return out, nil
}

// eachValue is each.value for key k of a for_each collection (unknown when the collection did
// not evaluate or does not hold k).
func eachValue(collection cty.Value, k string) cty.Value {
	switch {
	case collection == cty.NilVal:
	case collection.Type().IsObjectType() && collection.Type().HasAttribute(k):
		return collection.GetAttr(k)
	case collection.Type().IsMapType() && collection.HasIndex(cty.StringVal(k)).True():
		return collection.Index(cty.StringVal(k))
	}
	return cty.DynamicVal
}
