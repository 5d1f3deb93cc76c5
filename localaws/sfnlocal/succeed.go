package sfnlocal

// runSucceed: a Succeed state ends its scope with its input as output (through InputPath and
// OutputPath); it has no Next, so the executor ends the scope.
func (r *runner) runSucceed(st *state, raw any, ctxObj map[string]any) (stateResult, error) {
	eff, err := r.inputPath(st, raw, ctxObj)
	if err != nil {
		return stateResult{}, err
	}
	out, err := r.outputPath(st, eff, ctxObj)
	return stateResult{out: out}, err
}
