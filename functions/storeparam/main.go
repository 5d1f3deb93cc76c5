// Command storeparam is the keyrotor Lambda serving the rotation actions store, restore
// (docs/steps.md).
package main

import "github.com/keyrotor/keyrotor/internal/rotation"

func main() {
	rotation.Serve("storeparam", true, rotation.NewStoreParamSteps, "store", "restore")
}
