package sfnlocal

import (
	"fmt"
)

// Input and output processing shared by the state types: InputPath, Parameters, ResultSelector,
// ResultPath, OutputPath.

func (r *runner) effectiveInput(st *state, raw any, ctxObj map[string]any) (any, error) {
	eff, err := r.inputPath(st, raw, ctxObj)
	if err != nil {
		return nil, err
	}
	if st.parameters != nil {
		return st.parameters.eval(r.env(eff, ctxObj), "Parameters")
	}
	return eff, nil
}

func (r *runner) inputPath(st *state, raw any, ctxObj map[string]any) (any, error) {
	return applyIOPath(st.inputPath, raw, ctxObj, "InputPath")
}

func (r *runner) outputPath(st *state, v any, ctxObj map[string]any) (any, error) {
	return applyIOPath(st.outputPath, v, ctxObj, "OutputPath")
}

func applyIOPath(p ioPath, v any, ctxObj map[string]any, field string) (any, error) {
	switch {
	case p.null:
		return map[string]any{}, nil
	case p.path == nil:
		return v, nil
	}
	out, ok := p.path.get(v, ctxObj)
	if !ok {
		se := pathNotFound(p.path.raw, "field '"+field+"'", pathRoot(p.path, v, ctxObj))
		se.Cause = "Invalid path '" + p.path.raw + "' : " + se.Cause
		return nil, se
	}
	return out, nil
}

// finishResult applies ResultSelector, ResultPath and OutputPath to a state's result.
func (r *runner) finishResult(st *state, raw, result any, ctxObj map[string]any) (any, error) {
	if st.resultSelector != nil {
		v, err := st.resultSelector.eval(r.env(result, ctxObj), "ResultSelector")
		if err != nil {
			return nil, err
		}
		result = v
	}
	out, err := applyResultPath(st.resultPath, raw, result)
	if err != nil {
		return nil, err
	}
	return r.outputPath(st, out, ctxObj)
}

func applyResultPath(rp resultPathSpec, raw, result any) (any, error) {
	switch {
	case rp.discard:
		return raw, nil
	case rp.path == nil:
		return result, nil
	}
	out, err := rp.path.set(raw, result)
	if err != nil {
		return nil, &stateError{Name: ErrResultPathMatchFailure, Cause: fmt.Sprintf("Unable to apply ResultPath '%s' to input '%s': %v", rp.path.raw, encodeJSON(raw), err)}
	}
	return out, nil
}
