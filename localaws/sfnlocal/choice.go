package sfnlocal

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// runChoice: a Choice state picks its next state by the first rule that matches its input,
// else Default, else fails with States.NoChoiceMatched.
func (r *runner) runChoice(st *state, raw any, ctxObj map[string]any) (stateResult, error) {
	eff, err := r.inputPath(st, raw, ctxObj)
	if err != nil {
		return stateResult{}, err
	}
	next := ""
	for _, rule := range st.choices {
		ok, err := rule.eval(eff, ctxObj)
		if err != nil {
			return stateResult{}, err
		}
		if ok {
			next = rule.next
			break
		}
	}
	if next == "" {
		next = st.defaultNext
	}
	if next == "" {
		return stateResult{}, &stateError{Name: ErrNoChoiceMatched, Cause: fmt.Sprintf("No Matches! (state %q has no Default)", st.name)}
	}
	out, err := r.outputPath(st, eff, ctxObj)
	return stateResult{out: out, next: next}, err
}

// choiceRule is a compiled Choice rule: a boolean combination (And/Or/Not) or a data test
// (Variable + one comparison operator).
type choiceRule struct {
	next string

	and, or []*choiceRule
	not     *choiceRule

	variable *jsonPath
	op       string // e.g. "StringEquals", "NumericLessThanPath", "IsPresent"
	value    any    // the literal operand
	ts       time.Time
	path     *jsonPath // operand of *Path operators
	pattern  []globPart
}

type globPart struct {
	star bool
	lit  string
}

var comparisonOps = map[string]string{ // operator → operand kind
	"StringEquals": "string", "StringLessThan": "string", "StringGreaterThan": "string",
	"StringLessThanEquals": "string", "StringGreaterThanEquals": "string", "StringMatches": "string",
	"NumericEquals": "number", "NumericLessThan": "number", "NumericGreaterThan": "number",
	"NumericLessThanEquals": "number", "NumericGreaterThanEquals": "number",
	"BooleanEquals":   "boolean",
	"TimestampEquals": "timestamp", "TimestampLessThan": "timestamp", "TimestampGreaterThan": "timestamp",
	"TimestampLessThanEquals": "timestamp", "TimestampGreaterThanEquals": "timestamp",
	"IsNull": "boolean", "IsPresent": "boolean", "IsNumeric": "boolean", "IsString": "boolean",
	"IsBoolean": "boolean", "IsTimestamp": "boolean",
}

func init() {
	var ops []string
	for op := range comparisonOps {
		if !strings.HasPrefix(op, "Is") && op != "StringMatches" {
			ops = append(ops, op)
		}
	}
	for _, op := range ops {
		comparisonOps[op+"Path"] = "path"
	}
}

func compileChoiceRule(v any, top bool, where string) (*choiceRule, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: a choice rule must be an object", where)
	}
	r := &choiceRule{}
	if next, ok := m["Next"]; ok {
		if !top {
			return nil, fmt.Errorf("%s: Next is only allowed on top-level choice rules", where)
		}
		s, ok := next.(string)
		if !ok || s == "" {
			return nil, fmt.Errorf("%s.Next: must be a state name", where)
		}
		r.next = s
	} else if top {
		return nil, fmt.Errorf("%s.Next: is missing (top-level choice rules need Next)", where)
	}
	var ops []string
	for k := range m {
		switch k {
		case "Next", "Comment", "Variable":
			continue
		case "And", "Or", "Not":
			ops = append(ops, k)
			continue
		}
		if _, ok := comparisonOps[k]; !ok {
			return nil, fmt.Errorf("%s: %q is not a choice rule field", where, k)
		}
		ops = append(ops, k)
	}
	sort.Strings(ops)
	if len(ops) != 1 {
		return nil, fmt.Errorf("%s: a choice rule needs exactly one operator (And, Or, Not or a comparison), found %d %v", where, len(ops), ops)
	}
	op := ops[0]
	switch op {
	case "And", "Or":
		if _, ok := m["Variable"]; ok {
			return nil, fmt.Errorf("%s: Variable is not allowed with %s", where, op)
		}
		list, ok := m[op].([]any)
		if !ok || len(list) == 0 {
			return nil, fmt.Errorf("%s.%s: must be a non-empty array of choice rules", where, op)
		}
		for i, e := range list {
			sub, err := compileChoiceRule(e, false, fmt.Sprintf("%s.%s[%d]", where, op, i))
			if err != nil {
				return nil, err
			}
			if op == "And" {
				r.and = append(r.and, sub)
			} else {
				r.or = append(r.or, sub)
			}
		}
		r.op = op
		return r, nil
	case "Not":
		if _, ok := m["Variable"]; ok {
			return nil, fmt.Errorf("%s: Variable is not allowed with Not", where)
		}
		sub, err := compileChoiceRule(m["Not"], false, where+".Not")
		if err != nil {
			return nil, err
		}
		r.not, r.op = sub, op
		return r, nil
	}
	vs, ok := m["Variable"].(string)
	if !ok {
		return nil, fmt.Errorf("%s.Variable: is missing (the path to test with %s)", where, op)
	}
	p, err := compilePath(vs)
	if err != nil {
		return nil, fmt.Errorf("%s.Variable: %w", where, err)
	}
	r.variable, r.op = p, op
	operand := m[op]
	switch comparisonOps[op] {
	case "string":
		s, ok := operand.(string)
		if !ok {
			return nil, fmt.Errorf("%s.%s: must be a string, got %s", where, op, encodeJSON(operand))
		}
		r.value = s
		if op == "StringMatches" {
			r.pattern = compileGlob(s)
		}
	case "number":
		f, ok := operand.(float64)
		if !ok {
			return nil, fmt.Errorf("%s.%s: must be a number, got %s", where, op, encodeJSON(operand))
		}
		r.value = f
	case "boolean":
		b, ok := operand.(bool)
		if !ok {
			return nil, fmt.Errorf("%s.%s: must be true or false, got %s", where, op, encodeJSON(operand))
		}
		r.value = b
	case "timestamp":
		s, _ := operand.(string)
		t, err := parseTimestamp(s)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: must be an RFC 3339 timestamp, got %s", where, op, encodeJSON(operand))
		}
		r.ts = t
	case "path":
		s, ok := operand.(string)
		if !ok {
			return nil, fmt.Errorf("%s.%s: must be a path, got %s", where, op, encodeJSON(operand))
		}
		pp, err := compilePath(s)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", where, op, err)
		}
		r.path = pp
	}
	return r, nil
}

// compileGlob compiles a StringMatches pattern: * matches any run of characters, \* is a
// literal star and \\ a literal backslash.
func compileGlob(s string) []globPart {
	var parts []globPart
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			lit.WriteByte(s[i])
		case c == '*':
			if lit.Len() > 0 {
				parts = append(parts, globPart{lit: lit.String()})
				lit.Reset()
			}
			parts = append(parts, globPart{star: true})
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		parts = append(parts, globPart{lit: lit.String()})
	}
	return parts
}

// globMatch matches greedily: the first literal is a prefix, the last a suffix, the ones
// between are found leftmost in order — linear, whatever the number of stars.
func globMatch(parts []globPart, s string) bool {
	if len(parts) == 0 {
		return s == ""
	}
	if len(parts) == 1 && !parts[0].star {
		return s == parts[0].lit
	}
	lo, hi := 0, len(parts)
	start, end := 0, len(s)
	if !parts[0].star {
		if !strings.HasPrefix(s, parts[0].lit) {
			return false
		}
		start, lo = len(parts[0].lit), 1
	}
	if last := parts[hi-1]; !last.star {
		if end-start < len(last.lit) || !strings.HasSuffix(s, last.lit) {
			return false
		}
		end, hi = end-len(last.lit), hi-1
	}
	for _, p := range parts[lo:hi] {
		if p.star {
			continue
		}
		k := strings.Index(s[start:end], p.lit)
		if k < 0 {
			return false
		}
		start += k + len(p.lit)
	}
	return true
}

// eval tests the rule against the state's effective input.
func (r *choiceRule) eval(input, ctx any) (bool, error) {
	switch r.op {
	case "And":
		for _, s := range r.and {
			ok, err := s.eval(input, ctx)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case "Or":
		for _, s := range r.or {
			ok, err := s.eval(input, ctx)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case "Not":
		ok, err := r.not.eval(input, ctx)
		return !ok, err
	}
	v, found := r.variable.get(input, ctx)
	if r.op == "IsPresent" {
		return found == r.value.(bool), nil
	}
	if !found {
		return false, &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("Invalid path '%s': The choice state's condition path references an invalid value.", r.variable.raw)}
	}
	switch r.op {
	case "IsNull":
		return (v == nil) == r.value.(bool), nil
	case "IsString":
		_, ok := v.(string)
		return ok == r.value.(bool), nil
	case "IsNumeric":
		_, ok := v.(float64)
		return ok == r.value.(bool), nil
	case "IsBoolean":
		_, ok := v.(bool)
		return ok == r.value.(bool), nil
	case "IsTimestamp":
		s, ok := v.(string)
		if ok {
			_, err := parseTimestamp(s)
			ok = err == nil
		}
		return ok == r.value.(bool), nil
	case "StringMatches":
		s, ok := v.(string)
		return ok && globMatch(r.pattern, s), nil
	}
	op := r.op
	operand := r.value
	if r.path != nil {
		op = strings.TrimSuffix(op, "Path")
		pv, ok := r.path.get(input, ctx)
		if !ok {
			return false, &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("Invalid path '%s': The choice state's condition path references an invalid value.", r.path.raw)}
		}
		operand = pv
	}
	cmp := func(kindOp string) string { // "Equals", "LessThan", …
		for _, k := range []string{"String", "Numeric", "Boolean", "Timestamp"} {
			if strings.HasPrefix(kindOp, k) {
				return kindOp[len(k):]
			}
		}
		return kindOp
	}(op)
	switch {
	case strings.HasPrefix(op, "String"):
		a, ok1 := v.(string)
		b, ok2 := operand.(string)
		return ok1 && ok2 && compareWith(a, b, cmp), nil
	case strings.HasPrefix(op, "Numeric"):
		a, ok1 := v.(float64)
		b, ok2 := operand.(float64)
		return ok1 && ok2 && compareWith(a, b, cmp), nil
	case strings.HasPrefix(op, "Boolean"):
		a, ok1 := v.(bool)
		b, ok2 := operand.(bool)
		return ok1 && ok2 && a == b, nil
	case strings.HasPrefix(op, "Timestamp"):
		s, ok := v.(string)
		if !ok {
			return false, nil
		}
		a, err := parseTimestamp(s)
		if err != nil {
			return false, nil
		}
		b := r.ts
		if r.path != nil {
			bs, ok := operand.(string)
			if !ok {
				return false, nil
			}
			if b, err = parseTimestamp(bs); err != nil {
				return false, nil
			}
		}
		return compareWith(a.UnixNano(), b.UnixNano(), cmp), nil
	}
	return false, nil
}

func compareWith[T float64 | string | int64](a, b T, cmp string) bool {
	switch cmp {
	case "Equals":
		return a == b
	case "LessThan":
		return a < b
	case "GreaterThan":
		return a > b
	case "LessThanEquals":
		return a <= b
	case "GreaterThanEquals":
		return a >= b
	}
	return false
}
