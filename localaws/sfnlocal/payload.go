package sfnlocal

import (
	"fmt"
	"sort"
	"strings"
)

// payloadTemplate is a compiled Parameters/ResultSelector/ItemSelector: a JSON value whose
// object keys ending in ".$" take their value from a path or an intrinsic function.
type payloadTemplate struct {
	lit     any    // a constant subtree (no .$ inside)
	litText string // lit's JSON text
	fields  []templateField
	items   []*payloadTemplate
	kind    int // 0 literal, 1 object, 2 array
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
			return literalTemplate(t), nil
		}
		// Fields in the order of their output names, as the encoder sorts members.
		sort.Slice(fields, func(i, j int) bool { return fields[i].key < fields[j].key })
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
			return literalTemplate(t), nil
		}
		return &payloadTemplate{kind: 2, items: items}, nil
	}
	return literalTemplate(v), nil
}

func literalTemplate(v any) *payloadTemplate {
	return &payloadTemplate{lit: v, litText: encodeJSON(v)}
}

// eval builds the payload. field names the definition field (Parameters, ResultSelector…)
// for error messages.
func (t *payloadTemplate) eval(env *intrinsicEnv, field string) (any, error) {
	switch t.kind {
	case 1:
		out := make(map[string]any, len(t.fields))
		for _, f := range t.fields {
			var v any
			var err error
			if f.path != nil || f.call != nil {
				v, err = valueOf(f.path, f.call, env, "field", f.raw)
			} else {
				v, err = f.value.eval(env, field)
			}
			if err != nil {
				return nil, err
			}
			out[f.key] = v
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

// appendText writes the payload's JSON text straight from the template, without building
// the value: a Task only needs the text (for the invoker and the history). inputText is
// env.input's JSON text when known; a "$" field then copies it instead of encoding the whole
// input again (the rotation Tasks send "rotation.$": "$").
func (t *payloadTemplate) appendText(b []byte, env *intrinsicEnv, inputText, field string) ([]byte, error) {
	switch t.kind {
	case 1:
		b = append(b, '{')
		for i, f := range t.fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, f.key)
			b = append(b, ':')
			var err error
			switch {
			case f.path != nil && !f.path.context && len(f.path.segs) == 0 && inputText != "":
				b = append(b, inputText...)
			case f.path != nil || f.call != nil:
				var v any
				if v, err = valueOf(f.path, f.call, env, "field", f.raw); err == nil {
					b, err = appendValue(b, v)
				}
			default:
				b, err = f.value.appendText(b, env, inputText, field)
			}
			if err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case 2:
		b = append(b, '[')
		for i, it := range t.items {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = it.appendText(b, env, inputText, field); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	return append(b, t.litText...), nil
}

func appendValue(b []byte, v any) ([]byte, error) {
	if out, ok := appendJSON(b, v); ok {
		return out, nil
	}
	text, err := marshalNoEscape(v)
	if err != nil {
		return nil, &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("a value cannot be encoded as JSON: %v", err)}
	}
	return append(b, text...), nil
}
