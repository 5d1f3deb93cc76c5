// Command aslrules checks Step Functions definitions against keyrotor's ASL rules (package
// aslrules) and prints each problem, one budget line per definition and
// `asl rules: N definitions, M problems`. It exits 1 when there are problems.
package main

import (
	"fmt"
	"os"

	"github.com/keyrotor/keyrotor/internal/harness/aslrules"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: aslrules FILE.asl.json...")
		os.Exit(2)
	}
	problems := 0
	for _, f := range os.Args[1:] {
		src, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "aslrules: %v\n", err)
			os.Exit(2)
		}
		rep, err := aslrules.Check(aslrules.FillPlaceholders(src), aslrules.Options{LoopBounds: aslrules.KeyrotorLoops})
		if err != nil {
			fmt.Fprintf(os.Stderr, "aslrules: %s: %v\n", f, err)
			os.Exit(2)
		}
		fmt.Printf("%s: worst case %d history events (quota %d), largest fleet-sized state %d bytes (quota %d), for %d users\n",
			f, rep.Events, aslrules.MaxHistoryEvents, rep.Payload, aslrules.MaxPayloadBytes, aslrules.FleetUsers)
		for _, p := range rep.Problems {
			fmt.Printf("%s: %s\n", f, p)
		}
		problems += len(rep.Problems)
	}
	fmt.Printf("asl rules: %d definitions, %d problems\n", len(os.Args)-1, problems)
	if problems > 0 {
		os.Exit(1)
	}
}
