// Command verifykey is the keyrotor Lambda serving the rotation actions verify
// (docs/steps.md).
package main

import "github.com/keyrotor/keyrotor/internal/rotation"

func main() {
	rotation.Serve("verifykey", false, rotation.NewVerifyKeySteps, "verify")
}
