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

// intrinsicArity gives min and max argument counts (-1: unbounded).
var intrinsicArity = map[string][2]int{
	"States.Format":         {1, -1},
	"States.StringToJson":   {1, 1},
	"States.JsonToString":   {1, 1},
	"States.Array":          {0, -1},
	"States.ArrayPartition": {2, 2},
	"States.ArrayContains":  {2, 2},
	"States.ArrayRange":     {3, 3},
	"States.ArrayGetItem":   {2, 2},
	"States.ArrayLength":    {1, 1},
	"States.ArrayUnique":    {1, 1},
	"States.Base64Encode":   {1, 1},
	"States.Base64Decode":   {1, 1},
	"States.Hash":           {2, 2},
	"States.JsonMerge":      {3, 3},
	"States.MathRandom":     {2, 3},
	"States.MathAdd":        {2, 2},
	"States.StringSplit":    {2, 2},
	"States.UUID":           {0, 0},
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
	arity, ok := intrinsicArity[name]
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
	if len(c.args) < arity[0] || (arity[1] >= 0 && len(c.args) > arity[1]) {
		want := strconv.Itoa(arity[0])
		if arity[1] != arity[0] {
			if arity[1] < 0 {
				want = "at least " + want
			} else {
				want = fmt.Sprintf("%d to %d", arity[0], arity[1])
			}
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
	rand       func() *mrand.Rand
}

func intrinsicFailure(c *intrinsicCall, format string, a ...any) error {
	return &stateError{Name: ErrIntrinsicFailure, Cause: fmt.Sprintf("Invalid arguments in %s: ", c.name) + fmt.Sprintf(format, a...)}
}

func (c *intrinsicCall) eval(env *intrinsicEnv) (any, error) {
	args := make([]any, len(c.args))
	for i, a := range c.args {
		switch {
		case a.path != nil:
			v, ok := a.path.get(env.input, env.ctx)
			if !ok {
				return nil, &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("The JSONPath '%s' specified for the intrinsic function '%s' could not be found in the input '%s'", a.path.raw, c.raw, encodeJSON(pathRoot(a.path, env.input, env.ctx)))}
			}
			args[i] = v
		case a.call != nil:
			v, err := a.call.eval(env)
			if err != nil {
				return nil, err
			}
			args[i] = v
		default:
			args[i] = a.lit
		}
	}
	str := func(i int) (string, error) {
		s, ok := args[i].(string)
		if !ok {
			return "", intrinsicFailure(c, "argument %d must be a string, got %s", i+1, typeName(args[i]))
		}
		return s, nil
	}
	arr := func(i int) ([]any, error) {
		a, ok := args[i].([]any)
		if !ok {
			return nil, intrinsicFailure(c, "argument %d must be an array, got %s", i+1, typeName(args[i]))
		}
		return a, nil
	}
	integer := func(i int) (int64, error) {
		f, ok := args[i].(float64)
		if !ok || !isInteger(f) {
			return 0, intrinsicFailure(c, "argument %d must be an integer, got %s", i+1, encodeJSON(args[i]))
		}
		return int64(f), nil
	}
	switch c.name {
	case "States.Format":
		tmpl, err := str(0)
		if err != nil {
			return nil, err
		}
		escaped := c.args[0].isStr
		if escaped {
			tmpl = c.args[0].rawStr
		}
		return formatTemplate(c, tmpl, escaped, args[1:])
	case "States.StringToJson":
		s, err := str(0)
		if err != nil {
			return nil, err
		}
		v, err := decodeJSON([]byte(s))
		if err != nil {
			return nil, intrinsicFailure(c, "%q is not JSON: %v", s, err)
		}
		return v, nil
	case "States.JsonToString":
		return encodeJSON(args[0]), nil
	case "States.Array":
		return append([]any{}, args...), nil
	case "States.ArrayPartition":
		a, err := arr(0)
		if err != nil {
			return nil, err
		}
		n, err := integer(1)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return nil, intrinsicFailure(c, "the chunk size must be a positive integer, got %d", n)
		}
		out := []any{}
		for i := 0; i < len(a); i += int(n) {
			out = append(out, append([]any{}, a[i:min(len(a), i+int(n))]...))
		}
		return out, nil
	case "States.ArrayContains":
		a, err := arr(0)
		if err != nil {
			return nil, err
		}
		for _, e := range a {
			if deepEqual(e, args[1]) {
				return true, nil
			}
		}
		return false, nil
	case "States.ArrayRange":
		start, err := integer(0)
		if err != nil {
			return nil, err
		}
		end, err := integer(1)
		if err != nil {
			return nil, err
		}
		step, err := integer(2)
		if err != nil {
			return nil, err
		}
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
	case "States.ArrayGetItem":
		a, err := arr(0)
		if err != nil {
			return nil, err
		}
		i, err := integer(1)
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(a)) {
			return nil, intrinsicFailure(c, "index %d is outside the array of %d items", i, len(a))
		}
		return a[i], nil
	case "States.ArrayLength":
		a, err := arr(0)
		if err != nil {
			return nil, err
		}
		return float64(len(a)), nil
	case "States.ArrayUnique":
		a, err := arr(0)
		if err != nil {
			return nil, err
		}
		out := []any{}
	next:
		for _, e := range a {
			for _, seen := range out {
				if deepEqual(e, seen) {
					continue next
				}
			}
			out = append(out, e)
		}
		return out, nil
	case "States.Base64Encode":
		s, err := str(0)
		if err != nil {
			return nil, err
		}
		if len(s) > 10000 {
			return nil, intrinsicFailure(c, "the input has more than 10000 characters")
		}
		return base64.StdEncoding.EncodeToString([]byte(s)), nil
	case "States.Base64Decode":
		s, err := str(0)
		if err != nil {
			return nil, err
		}
		if len(s) > 10000 {
			return nil, intrinsicFailure(c, "the input has more than 10000 characters")
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, intrinsicFailure(c, "%q is not base64: %v", s, err)
		}
		return string(b), nil
	case "States.Hash":
		s, err := str(0)
		if err != nil {
			return nil, err
		}
		alg, err := str(1)
		if err != nil {
			return nil, err
		}
		if len(s) > 10000 {
			return nil, intrinsicFailure(c, "the input has more than 10000 characters")
		}
		var h hash.Hash
		switch alg {
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
	case "States.JsonMerge":
		a, ok1 := args[0].(map[string]any)
		b, ok2 := args[1].(map[string]any)
		if !ok1 || !ok2 {
			return nil, intrinsicFailure(c, "the first two arguments must be objects, got %s and %s", typeName(args[0]), typeName(args[1]))
		}
		deep, ok := args[2].(bool)
		if !ok {
			return nil, intrinsicFailure(c, "argument 3 must be a boolean")
		}
		if deep {
			return nil, intrinsicFailure(c, "only shallow merging is supported: pass false as the third argument")
		}
		out := make(map[string]any, len(a)+len(b))
		for k, v := range a {
			out[k] = v
		}
		for k, v := range b {
			out[k] = v
		}
		return out, nil
	case "States.MathRandom":
		start, err := integer(0)
		if err != nil {
			return nil, err
		}
		end, err := integer(1)
		if err != nil {
			return nil, err
		}
		if end <= start {
			return nil, intrinsicFailure(c, "the end (%d) must be greater than the start (%d)", end, start)
		}
		var r *mrand.Rand
		if len(args) == 3 {
			seed, err := integer(2)
			if err != nil {
				return nil, err
			}
			r = mrand.New(mrand.NewPCG(uint64(seed), 0x6b6579726f746f72))
			return float64(start + r.Int64N(end-start)), nil
		}
		return float64(start + env.rand().Int64N(end-start)), nil
	case "States.MathAdd":
		a, err := integer(0)
		if err != nil {
			return nil, err
		}
		b, err := integer(1)
		if err != nil {
			return nil, err
		}
		return float64(a + b), nil
	case "States.StringSplit":
		s, err := str(0)
		if err != nil {
			return nil, err
		}
		delims, err := str(1)
		if err != nil {
			return nil, err
		}
		// Each character of the second argument is a delimiter, as AWS documents.
		parts := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(delims, r) })
		out := make([]any, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out, nil
	case "States.UUID":
		return newUUID(), nil
	}
	return nil, intrinsicFailure(c, "unknown function")
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
			case nil:
				sb.WriteString("null")
			default:
				return nil, intrinsicFailure(c, "argument %d is %s; only strings, numbers, booleans and null can be formatted", n+2, typeName(v))
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
