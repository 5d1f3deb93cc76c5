package sfnlocal

// fail reads a Fail state's Error and Cause, each given as a string or as a path.
func (p *parser) fail(st *state, m map[string]any) error {
	if err := p.exclusive(st.name, m, "Error", "ErrorPath"); err != nil {
		return err
	}
	if err := p.exclusive(st.name, m, "Cause", "CausePath"); err != nil {
		return err
	}
	if v, ok := m["Error"]; ok {
		if st.errorName, ok = v.(string); !ok {
			return st.fieldError("Error", "must be a string")
		}
	}
	if v, ok := m["Cause"]; ok {
		if st.cause, ok = v.(string); !ok {
			return st.fieldError("Cause", "must be a string")
		}
	}
	var err error
	if _, ok := m["ErrorPath"]; ok {
		if st.errorPath, err = p.pathOrIntrinsic(st.name, m, "ErrorPath"); err != nil {
			return err
		}
	}
	if _, ok := m["CausePath"]; ok {
		if st.causePath, err = p.pathOrIntrinsic(st.name, m, "CausePath"); err != nil {
			return err
		}
	}
	return nil
}
