// Command deleteoldkeys is the keyrotor Lambda serving the rotation actions deactivate, delete, rollback, release
// (docs/steps.md).
package main

import (
	"github.com/keyrotor/keyrotor/internal/lambdamain"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

func main() { lambdamain.Main(lambdamain.Rotation(rotation.DeleteOldKeys)) }
