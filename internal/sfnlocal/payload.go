package sfnlocal

import (
	"fmt"
	"strings"
)

// payloadTemplate is a compiled Parameters/ResultSelector/ItemSelector: a JSON value whose
// object keys ending in ".$" take their value from a path or an intrinsic function.
type payloadTemplate struct {
	lit    any // a constant subtree (no .$ inside)
	fields []templateField
	items  []*payloadTemplate
	kind   int // 0 literal, 1 object, 2 array
}

type templateField struct {
	key   string // without the .$ suffix
	raw   string // the key as written
	value *payloadTemplate
	path  *jsonPath
	call  *intrinsicCall
}

func compileTemplate(v any, where string) (*payloadTemplate, error) {
	switch t := v.(type) {
	case map[string]any:
		dynamic := false
		var fields []templateField
		for _, k := range sortedKeys(t) {
			val := t[k]
			if strings.HasSuffix(k, ".$") {
				dynamic = true
				s, ok := val.(string)
				if !ok {
					return nil, fmt.Errorf("%s: the value of %q must be a path or an intrinsic function string", where, k)
				}
				f := templateField{key: strings.TrimSuffix(k, ".$"), raw: k}
				switch {
				case strings.HasPrefix(s, "$"):
					p, err := compilePath(s)
					if err != nil {
						return nil, fmt.Errorf("%s: field %q: %w", where, k, err)
					}
					f.path = p
				case isIntrinsic(s):
					c, err := compileIntrinsic(s)
					if err != nil {
						return nil, fmt.Errorf("%s: field %q: %w", where, k, err)
					}
					f.call = c
				default:
					return nil, fmt.Errorf("%s: field %q: %q is neither a path ($...) nor an intrinsic function (States....)", where, k, s)
				}
				fields = append(fields, f)
				continue
			}
			sub, err := compileTemplate(val, where)
			if err != nil {
				return nil, err
			}
			if sub.kind != 0 {
				dynamic = true
			}
			fields = append(fields, templateField{key: k, raw: k, value: sub})
		}
		if !dynamic {
			return &payloadTemplate{lit: t}, nil
		}
		return &payloadTemplate{kind: 1, fields: fields}, nil
	case []any:
		dynamic := false
		items := make([]*payloadTemplate, len(t))
		for i, e := range t {
			sub, err := compileTemplate(e, where)
			if err != nil {
				return nil, err
			}
			if sub.kind != 0 {
				dynamic = true
			}
			items[i] = sub
		}
		if !dynamic {
			return &payloadTemplate{lit: t}, nil
		}
		return &payloadTemplate{kind: 2, items: items}, nil
	}
	return &payloadTemplate{lit: v}, nil
}

// eval builds the payload. field names the definition field (Parameters, ResultSelector…)
// for error messages.
func (t *payloadTemplate) eval(env *intrinsicEnv, field string) (any, error) {
	switch t.kind {
	case 1:
		out := make(map[string]any, len(t.fields))
		for _, f := range t.fields {
			switch {
			case f.path != nil:
				v, ok := f.path.get(env.input, env.ctx)
				if !ok {
					return nil, &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("The JSONPath '%s' specified for the field '%s' could not be found in the input '%s'", f.path.raw, f.raw, encodeJSON(pathRoot(f.path, env.input, env.ctx)))}
				}
				out[f.key] = v
			case f.call != nil:
				v, err := f.call.eval(env)
				if err != nil {
					return nil, err
				}
				out[f.key] = v
			default:
				v, err := f.value.eval(env, field)
				if err != nil {
					return nil, err
				}
				out[f.key] = v
			}
		}
		return out, nil
	case 2:
		out := make([]any, len(t.items))
		for i, it := range t.items {
			v, err := it.eval(env, field)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	return t.lit, nil
}
