package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keyrotor/keyrotor/internal/harness/aslrules"
)

// The README's mermaid diagram must draw exactly the transitions of statemachine/rotate.asl.json.
func TestReadmeDiagramDrawsEveryTransitionOfTheDefinition(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(readme), "```mermaid\nstateDiagram-v2\n")
	if start < 0 {
		t.Fatal("README.md has no mermaid stateDiagram-v2")
	}
	block := string(readme)[start:]
	block = block[:strings.Index(block[3:], "```")+3]
	drawn := map[string]bool{}
	edge := regexp.MustCompile(`^\s*(\w+) --> (\w+)`)
	for _, line := range strings.Split(block, "\n") {
		if m := edge.FindStringSubmatch(line); m != nil && m[1] != m[2] {
			drawn[m[1]+" -> "+m[2]] = true
		}
	}

	states, err := aslrules.Transitions("../../statemachine/rotate.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	for name, s := range states {
		for _, next := range s.All() {
			defined[name+" -> "+next] = true
		}
	}
	for e := range defined {
		if !drawn[e] {
			t.Errorf("README diagram lacks %s", e)
		}
	}
	var extra []string
	for e := range drawn {
		if !defined[e] {
			extra = append(extra, e)
		}
	}
	slices.Sort(extra)
	if len(extra) > 0 {
		t.Errorf("README diagram draws transitions the definition does not have: %v", extra)
	}
}
