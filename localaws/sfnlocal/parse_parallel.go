package sfnlocal

import "fmt"

// parallel parses each of a Parallel state's Branches as a scope of its own.
func (p *parser) parallel(st *state, m map[string]any, statePtr string) error {
	raw, ok := m["Branches"].([]any)
	if !ok || len(raw) == 0 {
		return st.fieldError("Branches", "is missing or empty (an array of {StartAt, States})")
	}
	for i, b := range raw {
		bm, ok := b.(map[string]any)
		if !ok {
			return st.fieldError(fmt.Sprintf("Branches[%d]", i), "must be an object with StartAt and States")
		}
		if err := p.allowed(st.name, bm, fmt.Sprintf("Branches[%d]", i), "StartAt", "States", "Comment"); err != nil {
			return err
		}
		p.ptr = fmt.Sprintf("%s/Branches/%d", statePtr, i)
		sc, err := p.scope(bm, st.name)
		if err != nil {
			return fmt.Errorf("in Branches[%d] of %q: %w", i, st.name, err)
		}
		st.branches = append(st.branches, sc)
	}
	return nil
}
