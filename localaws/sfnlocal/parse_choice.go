package sfnlocal

import "fmt"

// choice compiles a Choice state's rules and reads its Default.
func (p *parser) choice(st *state, m map[string]any) error {
	raw, ok := m["Choices"].([]any)
	if !ok || len(raw) == 0 {
		return st.fieldError("Choices", "is missing or empty (a non-empty array of choice rules)")
	}
	for i, r := range raw {
		rule, err := compileChoiceRule(r, true, fmt.Sprintf("Choices[%d]", i))
		if err != nil {
			return &ParseError{State: st.name, Msg: err.Error()}
		}
		st.choices = append(st.choices, rule)
	}
	if v, ok := m["Default"]; ok {
		s, ok := v.(string)
		if !ok || s == "" {
			return st.fieldError("Default", "must be a state name")
		}
		st.defaultNext = s
	}
	return nil
}
