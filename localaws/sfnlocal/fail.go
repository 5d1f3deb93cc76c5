package sfnlocal

import (
	"fmt"
)

// runFail: a Fail state fails its scope with its Error and Cause (or ErrorPath and CausePath,
// paths or intrinsic functions).
func (r *runner) runFail(st *state, raw any, ctxObj map[string]any) error {
	se := &stateError{Name: st.errorName, Cause: st.cause}
	eval := func(src *valueSource, field string) (string, error) {
		var v any
		if src.call != nil {
			x, err := src.call.eval(r.env(raw, ctxObj))
			if err != nil {
				return "", err
			}
			v = x
		} else {
			x, ok := src.path.get(raw, ctxObj)
			if !ok {
				return "", pathNotFound(src.raw, "field '"+field+"'", pathRoot(src.path, raw, ctxObj))
			}
			v = x
		}
		s, ok := v.(string)
		if !ok {
			return "", &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("The value of %s ('%s') must be a string, got %s", field, src.raw, encodeJSON(v))}
		}
		return s, nil
	}
	if st.errorPath != nil {
		s, err := eval(st.errorPath, "ErrorPath")
		if err != nil {
			return err
		}
		se.Name = s
	}
	if st.causePath != nil {
		s, err := eval(st.causePath, "CausePath")
		if err != nil {
			return err
		}
		se.Cause = s
	}
	return se
}
