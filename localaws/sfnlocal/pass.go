package sfnlocal

// runPass: a Pass state passes its input (or its Result) to its output, through Parameters
// and ResultPath.
func (r *runner) runPass(st *state, raw any, rawText string, ctxObj map[string]any) (stateResult, error) {
	eff, err := r.effectiveInput(st, raw, ctxObj)
	if err != nil {
		return stateResult{}, err
	}
	result := eff
	if st.hasResult {
		result = st.result
	}
	out, err := applyResultPath(st.resultPath, raw, result)
	if err != nil {
		return stateResult{}, err
	}
	if text := r.splicedText(st, raw, rawText, func() string { return encodeJSON(result) }); text != "" {
		return stateResult{out: out, text: text}, nil
	}
	out, err = r.outputPath(st, out, ctxObj)
	return stateResult{out: out}, err
}
