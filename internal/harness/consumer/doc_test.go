// Package consumer_test tests the consumers — ssmcreds (Go), consumers/node and
// consumers/python, run as processes — as a service meets them: against moto, across real
// rotations. It lives in the harness so that the ssmcreds module needs none of moto's launcher,
// the rotation domain or the test helpers.
package consumer_test
