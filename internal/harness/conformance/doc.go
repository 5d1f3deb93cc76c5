// Package conformance holds the test that runs the same state machine scenarios in keyrotor's
// engine (internal/sfnlocal) and in the npm package aws-local-stepfunctions, with the same task
// stubs, and reports every difference in state path, task inputs and final result. runner.mjs
// is the Node side; the scenarios are in the _test.go files.
package conformance
