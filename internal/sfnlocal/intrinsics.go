package sfnlocal

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	mrand "math/rand/v2"
	"strconv"
	"strings"
)

// intrinsicCall is a compiled intrinsic function call such as
// States.Format('Hello {}', $.name).
type intrinsicCall struct {
	raw  string
	name string
	args []intrinsicArg
}

type intrinsicArg struct {
	lit    any    // a literal value (when path and call are nil)
	rawStr string // for string literals: the text between the quotes, escapes kept
	isStr  bool
	path   *jsonPath
	call   *intrinsicCall
}

func isIntrinsic(s string) bool { return strings.HasPrefix(s, "States.") }

func compileIntrinsic(raw string) (*intrinsicCall, error) {
	p := &intrinsicParser{s: raw}
	c, err := p.call()
	if err != nil {
		return nil, fmt.Errorf("intrinsic function %q: %w", raw, err)
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("intrinsic function %q: unexpected %q after the call", raw, p.s[p.i:])
	}
	return c, nil
}

type intrinsicParser struct {
	s string
	i int
}

func (p *intrinsicParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *intrinsicParser) call() (*intrinsicCall, error) {
	start := p.i
	open := strings.IndexByte(p.s[p.i:], '(')
	if open < 0 {
		return nil, fmt.Errorf("missing (")
	}
	name := strings.TrimSpace(p.s[p.i : p.i+open])
	fn, ok := intrinsicFuncs[name]
	if !ok {
		return nil, fmt.Errorf("unknown function %q", name)
	}
	p.i += open + 1
	c := &intrinsicCall{name: name}
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == ')' {
		p.i++
	} else {
		for {
			p.skipSpace()
			a, err := p.arg()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
			p.skipSpace()
			if p.i >= len(p.s) {
				return nil, fmt.Errorf("missing )")
			}
			if p.s[p.i] == ')' {
				p.i++
				break
			}
			if p.s[p.i] != ',' {
				return nil, fmt.Errorf("expected , or ) at %q", p.s[p.i:])
			}
			p.i++
		}
	}
	c.raw = p.s[start:p.i]
	least, most := len(fn.params)-fn.optional, len(fn.params)
	if len(c.args) < least || (!fn.variadic && len(c.args) > most) {
		want := strconv.Itoa(least)
		switch {
		case fn.variadic:
			want = "at least " + want
		case most != least:
			want = fmt.Sprintf("%d to %d", least, most)
		}
		return nil, fmt.Errorf("%s takes %s arguments, got %d", name, want, len(c.args))
	}
	return c, nil
}

func (p *intrinsicParser) arg() (intrinsicArg, error) {
	if p.i >= len(p.s) {
		return intrinsicArg{}, fmt.Errorf("missing argument")
	}
	rest := p.s[p.i:]
	switch {
	case rest[0] == '\'':
		var sb strings.Builder
		for j := 1; j < len(rest); j++ {
			c := rest[j]
			if c == '\\' && j+1 < len(rest) {
				j++
				sb.WriteByte(rest[j])
				continue
			}
			if c == '\'' {
				p.i += j + 1
				return intrinsicArg{lit: sb.String(), rawStr: rest[1:j], isStr: true}, nil
			}
			sb.WriteByte(c)
		}
		return intrinsicArg{}, fmt.Errorf("unterminated string %s", rest)
	case rest[0] == '$':
		// A path runs to the next , or ) outside brackets and quotes.
		depth, inStr := 0, byte(0)
		j := 0
	scan:
		for ; j < len(rest); j++ {
			c := rest[j]
			if inStr != 0 {
				if c == inStr {
					inStr = 0
				}
				continue
			}
			switch c {
			case '\'', '"':
				inStr = c
			case '[', '(':
				depth++
			case ']':
				depth--
			case ')':
				if depth == 0 {
					break scan
				}
				depth--
			case ',':
				if depth == 0 {
					break scan
				}
			}
		}
		raw := strings.TrimSpace(rest[:j])
		path, err := compilePath(raw)
		if err != nil {
			return intrinsicArg{}, err
		}
		p.i += j
		return intrinsicArg{path: path}, nil
	case strings.HasPrefix(rest, "States."):
		c, err := p.call()
		if err != nil {
			return intrinsicArg{}, err
		}
		return intrinsicArg{call: c}, nil
	}
	j := 0
	for j < len(rest) && rest[j] != ',' && rest[j] != ')' {
		j++
	}
	tok := strings.TrimSpace(rest[:j])
	var v any
	if err := json.Unmarshal([]byte(tok), &v); err != nil {
		return intrinsicArg{}, fmt.Errorf("argument %q is not a string, number, boolean, null, path or function", tok)
	}
	switch v.(type) {
	case map[string]any, []any:
		return intrinsicArg{}, fmt.Errorf("argument %q: literal objects and arrays are not allowed", tok)
	}
	p.i += j
	return intrinsicArg{lit: v}, nil
}

// intrinsicEnv is what an intrinsic needs at run time.
type intrinsicEnv struct {
	input, ctx any
	rand       randSource
}

// randSource gives States.MathRandom without a seed its random numbers (the runner: an
// interface rather than a func so that handing it to a function costs no allocation).
type randSource interface {
	lockedRand() *mrand.Rand
}

func intrinsicFailure(c *intrinsicCall, format string, a ...any) error {
	return &stateError{Name: ErrIntrinsicFailure, Cause: fmt.Sprintf("Invalid arguments in %s: ", c.name) + fmt.Sprintf(format, a...)}
}

func (c *intrinsicCall) eval(env *intrinsicEnv) (any, error) {
	args := make(intrinsicArgs, len(c.args))
	for i, a := range c.args {
		if a.path == nil && a.call == nil {
			args[i] = a.lit
			continue
		}
		v, err := valueOf(a.path, a.call, env, "intrinsic function", c.raw)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	fn := intrinsicFuncs[c.name]
	for i, v := range args {
		if i < len(fn.params) {
			if err := fn.params[i].check(c, i, v); err != nil {
				return nil, err
			}
		}
	}
	return fn.run(c, args, env.rand)
}

// valueOf evaluates a path (when path is set) or an intrinsic call against env. what and
// name say where it stands (field "x.$", intrinsic function "States.Format(…)") for the
// failure of a path that selects nothing.
func valueOf(path *jsonPath, call *intrinsicCall, env *intrinsicEnv, what, name string) (any, error) {
	if path == nil {
		return call.eval(env)
	}
	v, ok := path.get(env.input, env.ctx)
	if !ok {
		return nil, pathNotFound(path.raw, what+" '"+name+"'", pathRoot(path, env.input, env.ctx))
	}
	return v, nil
}

// paramKind is what a parameter of an intrinsic function accepts. eval checks every
// argument against its parameter before the function runs, so the functions read their
// arguments without checking them again.
type paramKind byte

const (
	anyParam paramKind = iota
	stringParam
	arrayParam
	integerParam
	objectParam
	booleanParam
)

func (k paramKind) check(c *intrinsicCall, i int, v any) error {
	var ok bool
	var want string
	switch k {
	case anyParam:
		return nil
	case stringParam:
		_, ok = v.(string)
		want = "a string"
	case arrayParam:
		_, ok = v.([]any)
		want = "an array"
	case integerParam:
		f, isNum := v.(float64)
		if !isNum || !isInteger(f) {
			return intrinsicFailure(c, "argument %d must be an integer, got %s", i+1, encodeJSON(v))
		}
		return nil
	case objectParam:
		_, ok = v.(map[string]any)
		want = "an object"
	case booleanParam:
		_, ok = v.(bool)
		want = "a boolean"
	}
	if !ok {
		return intrinsicFailure(c, "argument %d must be %s, got %s", i+1, want, typeName(v))
	}
	return nil
}

// intrinsicArgs are the checked arguments of a call; the accessors convert an argument of
// the kind its parameter declares.
type intrinsicArgs []any

func (a intrinsicArgs) str(i int) string         { return a[i].(string) }
func (a intrinsicArgs) arr(i int) []any          { return a[i].([]any) }
func (a intrinsicArgs) integer(i int) int64      { return int64(a[i].(float64)) }
func (a intrinsicArgs) obj(i int) map[string]any { return a[i].(map[string]any) }

// intrinsicFunc is one intrinsic function: the kinds of its parameters, of which the last
// optional ones may be left out and after which, when variadic, any number of arguments of
// any kind may follow; and what it does with checked arguments.
type intrinsicFunc struct {
	params   []paramKind
	optional int
	variadic bool
	run      func(c *intrinsicCall, a intrinsicArgs, rnd randSource) (any, error)
}

// maxEncodedInput is AWS's limit on the input of States.Base64Encode/Decode and States.Hash.
const maxEncodedInput = 10000

var intrinsicFuncs = map[string]intrinsicFunc{
	"States.Format": {params: []paramKind{stringParam}, variadic: true, run: func(c *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		tmpl, escaped := a.str(0), c.args[0].isStr
		if escaped {
			tmpl = c.args[0].rawStr
		}
		return formatTemplate(c, tmpl, escaped, a[1:])
	}},
	"States.StringToJson": {params: []paramKind{stringParam}, run: func(c *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		// AWS answers null for an empty or blank string (recorded: localstack
		// tests/aws/services/stepfunctions/v2/intrinsic_functions/test_json_manipulation.snapshot.json,
		// test_string_to_json).
		if strings.TrimSpace(a.str(0)) == "" {
			return nil, nil
		}
		v, err := decodeJSON([]byte(a.str(0)))
		if err != nil {
			return nil, intrinsicFailure(c, "%q is not JSON: %v", a.str(0), err)
		}
		return v, nil
	}},
	"States.JsonToString": {params: []paramKind{anyParam}, run: func(_ *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		return encodeJSON(a[0]), nil
	}},
	"States.Array": {variadic: true, run: func(_ *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		return append([]any{}, a...), nil
	}},
	"States.ArrayPartition": {params: []paramKind{arrayParam, integerParam}, run: func(c *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		items, n := a.arr(0), int(a.integer(1))
		if n <= 0 {
			return nil, intrinsicFailure(c, "the chunk size must be a positive integer, got %d", n)
		}
		out := []any{}
		for i := 0; i < len(items); i += n {
			out = append(out, append([]any{}, items[i:min(len(items), i+n)]...))
		}
		return out, nil
	}},
	"States.ArrayContains": {params: []paramKind{arrayParam, anyParam}, run: func(_ *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		for _, e := range a.arr(0) {
			if deepEqual(e, a[1]) {
				return true, nil
			}
		}
		return false, nil
	}},
	"States.ArrayRange": {params: []paramKind{integerParam, integerParam, integerParam}, run: func(c *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		start, end, step := a.integer(0), a.integer(1), a.integer(2)
		if step == 0 {
			return nil, intrinsicFailure(c, "the step must not be 0")
		}
		out := []any{}
		for v := start; (step > 0 && v <= end) || (step < 0 && v >= end); v += step {
			if len(out) == 1000 {
				return nil, intrinsicFailure(c, "the range has more than 1000 items")
			}
			out = append(out, float64(v))
		}
		return out, nil
	}},
	"States.ArrayGetItem": {params: []paramKind{arrayParam, integerParam}, run: func(c *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		items, i := a.arr(0), a.integer(1)
		if i < 0 || i >= int64(len(items)) {
			return nil, intrinsicFailure(c, "index %d is outside the array of %d items", i, len(items))
		}
		return items[i], nil
	}},
	"States.ArrayLength": {params: []paramKind{arrayParam}, run: func(_ *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		return float64(len(a.arr(0))), nil
	}},
	"States.ArrayUnique": {params: []paramKind{arrayParam}, run: func(_ *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		out := []any{}
	next:
		for _, e := range a.arr(0) {
			for _, seen := range out {
				if deepEqual(e, seen) {
					continue next
				}
			}
			out = append(out, e)
		}
		return out, nil
	}},
	"States.Base64Encode": {params: []paramKind{stringParam}, run: func(c *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		s, err := encodableInput(c, a)
		if err != nil {
			return nil, err
		}
		return base64.StdEncoding.EncodeToString([]byte(s)), nil
	}},
	"States.Base64Decode": {params: []paramKind{stringParam}, run: func(c *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		s, err := encodableInput(c, a)
		if err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, intrinsicFailure(c, "%q is not base64: %v", s, err)
		}
		return string(b), nil
	}},
	"States.Hash": {params: []paramKind{stringParam, stringParam}, run: func(c *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		s, err := encodableInput(c, a)
		if err != nil {
			return nil, err
		}
		var h hash.Hash
		switch alg := a.str(1); alg {
		case "MD5":
			h = md5.New()
		case "SHA-1":
			h = sha1.New()
		case "SHA-256":
			h = sha256.New()
		case "SHA-384":
			h = sha512.New384()
		case "SHA-512":
			h = sha512.New()
		default:
			return nil, intrinsicFailure(c, "algorithm %q is not one of MD5, SHA-1, SHA-256, SHA-384, SHA-512", alg)
		}
		h.Write([]byte(s))
		return hex.EncodeToString(h.Sum(nil)), nil
	}},
	"States.JsonMerge": {params: []paramKind{objectParam, objectParam, booleanParam}, run: func(c *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		if a[2].(bool) {
			return nil, intrinsicFailure(c, "only shallow merging is supported: pass false as the third argument")
		}
		first, second := a.obj(0), a.obj(1)
		out := make(map[string]any, len(first)+len(second))
		for k, v := range first {
			out[k] = v
		}
		for k, v := range second {
			out[k] = v
		}
		return out, nil
	}},
	"States.MathRandom": {params: []paramKind{integerParam, integerParam, integerParam}, optional: 1, run: func(c *intrinsicCall, a intrinsicArgs, rnd randSource) (any, error) {
		start, end := a.integer(0), a.integer(1)
		if end <= start {
			return nil, intrinsicFailure(c, "the end (%d) must be greater than the start (%d)", end, start)
		}
		if len(a) == 3 {
			r := mrand.New(mrand.NewPCG(uint64(a.integer(2)), 0x6b6579726f746f72))
			return float64(start + r.Int64N(end-start)), nil
		}
		return float64(start + rnd.lockedRand().Int64N(end-start)), nil
	}},
	"States.MathAdd": {params: []paramKind{integerParam, integerParam}, run: func(_ *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		return float64(a.integer(0) + a.integer(1)), nil
	}},
	"States.StringSplit": {params: []paramKind{stringParam, stringParam}, run: func(_ *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		// Each character of the second argument is a delimiter, as AWS documents.
		delims := a.str(1)
		parts := strings.FieldsFunc(a.str(0), func(r rune) bool { return strings.ContainsRune(delims, r) })
		out := make([]any, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out, nil
	}},
	"States.UUID": {run: func(*intrinsicCall, intrinsicArgs, randSource) (any, error) {
		return newUUID(), nil
	}},
}

// encodableInput is the first argument of the encoding and hashing functions, within AWS's
// limit.
func encodableInput(c *intrinsicCall, a intrinsicArgs) (string, error) {
	s := a.str(0)
	if len(s) > maxEncodedInput {
		return "", intrinsicFailure(c, "the input has more than %d characters", maxEncodedInput)
	}
	return s, nil
}

func formatTemplate(c *intrinsicCall, tmpl string, escaped bool, args []any) (any, error) {
	var sb strings.Builder
	n := 0
	for i := 0; i < len(tmpl); i++ {
		ch := tmpl[i]
		if escaped && ch == '\\' && i+1 < len(tmpl) {
			i++
			sb.WriteByte(tmpl[i])
			continue
		}
		if ch == '{' && i+1 < len(tmpl) && tmpl[i+1] == '}' {
			if n >= len(args) {
				return nil, intrinsicFailure(c, "the template has more {} than the %d arguments given", len(args))
			}
			switch v := args[n].(type) {
			case string:
				sb.WriteString(v)
			case float64:
				sb.WriteString(formatNumber(v))
			case bool:
				sb.WriteString(strconv.FormatBool(v))
			default:
				writeFormatted(&sb, v)
			}
			n++
			i++
			continue
		}
		sb.WriteByte(ch)
	}
	if n != len(args) {
		return nil, intrinsicFailure(c, "the template has %d {} but %d arguments were given", n, len(args))
	}
	return sb.String(), nil
}

// writeFormatted writes a States.Format argument as AWS does: strings as they are, objects and
// arrays in Java's Map/List notation (`{Arg1=1, Arg2=[]}`, recorded: localstack
// tests/aws/services/stepfunctions/v2/intrinsic_functions/test_generic.snapshot.json,
// test_format_2). Object members come in key order (AWS keeps the input's order).
func writeFormatted(sb *strings.Builder, v any) {
	switch v := v.(type) {
	case string:
		sb.WriteString(v)
	case float64:
		sb.WriteString(formatNumber(v))
	case bool:
		sb.WriteString(strconv.FormatBool(v))
	case nil:
		sb.WriteString("null")
	case []any:
		sb.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				sb.WriteString(", ")
			}
			writeFormatted(sb, e)
		}
		sb.WriteByte(']')
	case map[string]any:
		sb.WriteByte('{')
		for i, k := range sortedKeys(v) {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(k)
			sb.WriteByte('=')
			writeFormatted(sb, v[k])
		}
		sb.WriteByte('}')
	default:
		sb.WriteString(encodeJSON(v))
	}
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func pathRoot(p *jsonPath, input, ctx any) any {
	if p.context {
		return ctx
	}
	return input
}
