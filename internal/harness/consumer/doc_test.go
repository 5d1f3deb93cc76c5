// Package consumer_test tests ssmcreds as a consumer meets it: against moto, across real
// rotations. It lives in the harness so that the ssmcreds module needs none of moto's launcher,
// the rotation domain or the test helpers.
package consumer_test
