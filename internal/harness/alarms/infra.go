package alarms

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/keyrotor/keyrotor/internal/harness/infracheck"
)

// EngineModule is the module whose alerting is evaluated.
const EngineModule = "infra/modules/engine"

// MetricID names a CloudWatch metric: namespace, name and dimensions.
type MetricID struct {
	Namespace, Name string
	Dimensions      string // "k=v,k=v", sorted; "" without dimensions
}

// MetricFilter is one aws_cloudwatch_log_metric_filter instance.
type MetricFilter struct {
	Name     string
	LogGroup string
	Pattern  *Pattern
	Source   string // the pattern's text
	Metric   MetricID
	Value    float64
}

// Query is one metric_query of an alarm, or its single metric.
type Query struct {
	ID         string
	Expression string // metric math, or "" for a metric
	Metric     MetricID
	Period     int
	ReturnData bool
}

// Alarm is one aws_cloudwatch_metric_alarm instance.
type Alarm struct {
	Name              string
	Threshold         float64
	Comparison        string
	EvaluationPeriods int
	TreatMissing      string
	Queries           []Query
}

// Infra is the engine's alerting, rendered for one deployment.
type Infra struct {
	Filters   []MetricFilter
	Alarms    []Alarm
	EventRule map[string]any // the rotation_failed rule's event pattern
}

// Deployment gives what Terraform would know after apply: the ARNs the expressions refer to.
type Deployment struct {
	RotateStateMachineARN, FleetStateMachineARN string
	// Vars overrides variable defaults (cty values by name).
	Vars map[string]cty.Value
}

// Load renders the engine module's metric filters, alarms and failure rule from infra/ under root.
func Load(root string, d Deployment) (*Infra, error) {
	mods, err := infracheck.LoadModules(root)
	if err != nil {
		return nil, err
	}
	m := mods[EngineModule]
	if m == nil {
		return nil, fmt.Errorf("no module %s under %s", EngineModule, root)
	}
	vars := map[string]cty.Value{}
	for _, b := range m.Find("variable") {
		if v, ok := d.Vars[b.Labels[0]]; ok {
			vars[b.Labels[0]] = v
			continue
		}
		if a, ok := b.Body.Attributes["default"]; ok {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				return nil, fmt.Errorf("default of %s: %w", b.Labels[0], diags)
			}
			vars[b.Labels[0]] = v
		}
	}
	functionsExpr, ok := m.Local("functions")
	if !ok {
		return nil, fmt.Errorf("%s: no local.functions", EngineModule)
	}
	functions, err := m.ObjectKeys(functionsExpr)
	if err != nil {
		return nil, err
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)},
		Functions: map[string]function.Function{"jsonencode": stdlib.JSONEncodeFunc, "join": stdlib.JoinFunc, "concat": stdlib.ConcatFunc},
	}
	// The locals that evaluate from variables alone (names, lists); the rest refer to resources.
	m.ResolveLocals(ctx, nil)
	name := vars["name"].AsString()
	fnObjs := map[string]cty.Value{}
	for _, fn := range functions {
		fnObjs[fn] = cty.ObjectVal(map[string]cty.Value{"function_name": cty.StringVal(name + "-" + fn)})
	}
	ctx.Variables["aws_lambda_function"] = cty.ObjectVal(map[string]cty.Value{"function": cty.MapVal(fnObjs)})
	ctx.Variables["aws_cloudwatch_log_group"] = cty.ObjectVal(map[string]cty.Value{"function": cty.MapVal(mapOf(functions, func(fn string) cty.Value {
		return cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("/aws/lambda/" + name + "-" + fn)})
	}))})
	ctx.Variables["aws_sfn_state_machine"] = cty.ObjectVal(map[string]cty.Value{"state_machine": cty.MapVal(map[string]cty.Value{
		"rotate": cty.ObjectVal(map[string]cty.Value{"arn": cty.StringVal(d.RotateStateMachineARN)}),
		"fleet":  cty.ObjectVal(map[string]cty.Value{"arn": cty.StringVal(d.FleetStateMachineARN)}),
	})})

	inf := &Infra{}
	filterObjs := map[string]map[string]cty.Value{}
	for _, b := range m.Find("resource", "aws_cloudwatch_log_metric_filter") {
		keys, err := eachKeys(m, b, functions)
		if err != nil {
			return nil, err
		}
		objs := map[string]cty.Value{}
		for _, key := range keys {
			ectx := withEach(ctx, key)
			f := MetricFilter{}
			if f.Name, err = str(ectx, b.Body, "name"); err != nil {
				return nil, err
			}
			if f.LogGroup, err = str(ectx, b.Body, "log_group_name"); err != nil {
				return nil, err
			}
			if f.Source, err = str(ectx, b.Body, "pattern"); err != nil {
				return nil, err
			}
			if f.Pattern, err = ParsePattern(f.Source); err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name, err)
			}
			mt := firstBlock(b.Body, "metric_transformation")
			if mt == nil {
				return nil, fmt.Errorf("%s: no metric_transformation", f.Name)
			}
			if f.Metric.Name, err = str(ectx, mt.Body, "name"); err != nil {
				return nil, err
			}
			if f.Metric.Namespace, err = str(ectx, mt.Body, "namespace"); err != nil {
				return nil, err
			}
			value, err := str(ectx, mt.Body, "value")
			if err != nil {
				return nil, err
			}
			if f.Value, err = strconv.ParseFloat(value, 64); err != nil {
				return nil, fmt.Errorf("%s: metric value %q: %w", f.Name, value, err)
			}
			inf.Filters = append(inf.Filters, f)
			objs[key] = cty.ObjectVal(map[string]cty.Value{"metric_transformation": cty.TupleVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{
				"name": cty.StringVal(f.Metric.Name), "namespace": cty.StringVal(f.Metric.Namespace)})})})
		}
		filterObjs[b.Labels[1]] = objs
	}
	fobj := map[string]cty.Value{}
	for k, v := range filterObjs {
		fobj[k] = cty.ObjectVal(v)
	}
	ctx.Variables["aws_cloudwatch_log_metric_filter"] = cty.ObjectVal(fobj)

	for _, b := range m.Find("resource", "aws_cloudwatch_metric_alarm") {
		keys, err := eachKeys(m, b, functions)
		if err != nil {
			return nil, err
		}
		for _, key := range keys {
			a, err := loadAlarm(withEach(ctx, key), b.Body)
			if err != nil {
				return nil, fmt.Errorf("alarm %s[%s]: %w", b.Labels[1], key, err)
			}
			inf.Alarms = append(inf.Alarms, a)
		}
	}

	rules := m.Find("resource", "aws_cloudwatch_event_rule", "rotation_failed")
	if len(rules) != 1 {
		return nil, fmt.Errorf("%s: want one aws_cloudwatch_event_rule.rotation_failed, found %d", EngineModule, len(rules))
	}
	pattern, err := str(ctx, rules[0].Body, "event_pattern")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(pattern), &inf.EventRule); err != nil {
		return nil, fmt.Errorf("event pattern: %w", err)
	}
	return inf, nil
}

func loadAlarm(ctx *hcl.EvalContext, body *hclsyntax.Body) (Alarm, error) {
	var a Alarm
	var err error
	if a.Name, err = str(ctx, body, "alarm_name"); err != nil {
		return a, err
	}
	if a.Comparison, err = str(ctx, body, "comparison_operator"); err != nil {
		return a, err
	}
	if a.TreatMissing, err = str(ctx, body, "treat_missing_data"); err != nil {
		return a, err
	}
	if a.Threshold, err = num(ctx, body, "threshold"); err != nil {
		return a, err
	}
	periods, err := num(ctx, body, "evaluation_periods")
	if err != nil {
		return a, err
	}
	a.EvaluationPeriods = int(periods)
	if _, ok := body.Attributes["metric_name"]; ok {
		q := Query{ID: "m", ReturnData: true}
		if q.Metric, err = metricID(ctx, body, "namespace", "metric_name"); err != nil {
			return a, err
		}
		p, err := num(ctx, body, "period")
		if err != nil {
			return a, err
		}
		q.Period = int(p)
		a.Queries = []Query{q}
		return a, nil
	}
	for _, qb := range body.Blocks {
		if qb.Type != "metric_query" {
			continue
		}
		var q Query
		if q.ID, err = str(ctx, qb.Body, "id"); err != nil {
			return a, err
		}
		if _, ok := qb.Body.Attributes["expression"]; ok {
			if q.Expression, err = str(ctx, qb.Body, "expression"); err != nil {
				return a, err
			}
		}
		if rd, ok := qb.Body.Attributes["return_data"]; ok {
			v, diags := rd.Expr.Value(ctx)
			if diags.HasErrors() {
				return a, diags
			}
			q.ReturnData = v.True()
		}
		if mb := firstBlock(qb.Body, "metric"); mb != nil {
			if q.Metric, err = metricID(ctx, mb.Body, "namespace", "metric_name"); err != nil {
				return a, err
			}
			p, err := num(ctx, mb.Body, "period")
			if err != nil {
				return a, err
			}
			q.Period = int(p)
		}
		a.Queries = append(a.Queries, q)
	}
	return a, nil
}

func metricID(ctx *hcl.EvalContext, body *hclsyntax.Body, ns, name string) (MetricID, error) {
	var id MetricID
	var err error
	if id.Namespace, err = str(ctx, body, ns); err != nil {
		return id, err
	}
	if id.Name, err = str(ctx, body, name); err != nil {
		return id, err
	}
	if d, ok := body.Attributes["dimensions"]; ok {
		v, diags := d.Expr.Value(ctx)
		if diags.HasErrors() {
			return id, diags
		}
		var pairs []string
		for k, dv := range v.AsValueMap() {
			pairs = append(pairs, k+"="+dv.AsString())
		}
		sort.Strings(pairs)
		for i, p := range pairs {
			if i > 0 {
				id.Dimensions += ","
			}
			id.Dimensions += p
		}
	}
	return id, nil
}

func eachKeys(m *infracheck.Module, b *hclsyntax.Block, functions []string) ([]string, error) {
	fe, ok := b.Body.Attributes["for_each"]
	if !ok {
		return []string{""}, nil
	}
	if keys, err := m.ObjectKeys(fe.Expr); err == nil {
		return keys, nil
	}
	// toset([...]): the literal list.
	if call, ok := fe.Expr.(*hclsyntax.FunctionCallExpr); ok && call.Name == "toset" && len(call.Args) == 1 {
		v, diags := call.Args[0].Value(nil)
		if !diags.HasErrors() {
			var keys []string
			for _, e := range v.AsValueSlice() {
				keys = append(keys, e.AsString())
			}
			return keys, nil
		}
	}
	return nil, fmt.Errorf("%s: cannot list the for_each keys", fe.Expr.Range())
}

func withEach(ctx *hcl.EvalContext, key string) *hcl.EvalContext {
	c := ctx.NewChild()
	c.Variables = map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(key)})}
	return c
}

func firstBlock(body *hclsyntax.Body, typ string) *hclsyntax.Block {
	for _, b := range body.Blocks {
		if b.Type == typ {
			return b
		}
	}
	return nil
}

func str(ctx *hcl.EvalContext, body *hclsyntax.Body, attr string) (string, error) {
	a, ok := body.Attributes[attr]
	if !ok {
		return "", fmt.Errorf("%s: no attribute %s", body.Range(), attr)
	}
	v, diags := a.Expr.Value(ctx)
	if diags.HasErrors() {
		return "", fmt.Errorf("%s: %w", attr, diags)
	}
	if v.Type() == cty.Number {
		return v.AsBigFloat().Text('f', -1), nil
	}
	if v.Type() != cty.String {
		return "", fmt.Errorf("%s: %s is not a string", a.Expr.Range(), attr)
	}
	return v.AsString(), nil
}

func num(ctx *hcl.EvalContext, body *hclsyntax.Body, attr string) (float64, error) {
	s, err := str(ctx, body, attr)
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(s, 64)
}

func mapOf(keys []string, f func(string) cty.Value) map[string]cty.Value {
	m := map[string]cty.Value{}
	for _, k := range keys {
		m[k] = f(k)
	}
	return m
}
