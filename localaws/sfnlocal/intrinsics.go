package sfnlocal

import (
	"encoding/json"
	"fmt"
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

// intrinsicFuncs are every intrinsic function of JSONPath mode, by family:
// intrinsics_string.go (States.Format, StringSplit, StringToJson, JsonToString, JsonMerge),
// intrinsics_array.go (States.Array*), intrinsics_math.go (States.MathRandom, MathAdd),
// intrinsics_encoding.go (States.Base64Encode/Decode, Hash, UUID).
var intrinsicFuncs = joinIntrinsics(stringIntrinsics, arrayIntrinsics, mathIntrinsics, encodingIntrinsics)

func joinIntrinsics(families ...map[string]intrinsicFunc) map[string]intrinsicFunc {
	all := map[string]intrinsicFunc{}
	for _, f := range families {
		for name, fn := range f {
			all[name] = fn
		}
	}
	return all
}

func pathRoot(p *jsonPath, input, ctx any) any {
	if p.context {
		return ctx
	}
	return input
}
