package aslrules

import (
	"encoding/json"
	"fmt"
	"os"
)

// Successors are the states one state of a machine may go to next.
type Successors struct {
	// Next is the state's Next, or a Choice's Default.
	Next string
	// Choices are a Choice's rules' Next; Catches its Catchers' Next.
	Choices, Catches []string
}

// All is every successor, Next first, without the empty ones.
func (s Successors) All() []string {
	var out []string
	for _, n := range append(append([]string{s.Next}, s.Choices...), s.Catches...) {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// Transitions reads the top-level states of the ASL definition in file path and returns each
// one's successors: the edges a diagram of the machine draws and a reachability check walks.
func Transitions(path string) (map[string]Successors, error) {
	def, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the state machine definition: %w", err)
	}
	var m struct {
		States map[string]struct {
			Next, Default string
			Choices       []struct{ Next string }
			Catch         []struct{ Next string }
		}
	}
	if err := json.Unmarshal(def, &m); err != nil {
		return nil, fmt.Errorf("reading the states of %s: %w", path, err)
	}
	out := make(map[string]Successors, len(m.States))
	for name, st := range m.States {
		s := Successors{Next: st.Next}
		if s.Next == "" {
			s.Next = st.Default
		}
		for _, c := range st.Choices {
			s.Choices = append(s.Choices, c.Next)
		}
		for _, c := range st.Catch {
			s.Catches = append(s.Catches, c.Next)
		}
		out[name] = s
	}
	return out, nil
}
