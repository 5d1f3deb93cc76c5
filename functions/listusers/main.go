// Command listusers is the keyrotor Lambda that lists the IAM users tagged
// keyrotor:managed=true, one page per call, for the fleet state machine (docs/steps.md).
package main

import "github.com/keyrotor/keyrotor/internal/lambdamain"

func main() { lambdamain.Main(lambdamain.ListUsers()) }
