// Command createkey is the keyrotor Lambda serving the rotation actions begin, create
// (docs/steps.md).
package main

import "github.com/keyrotor/keyrotor/internal/rotation"

func main() {
	rotation.Serve("createkey", true, rotation.NewCreateKeySteps, "begin", "create")
}
