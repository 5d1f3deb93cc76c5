package sfnlocal

import (
	"math/rand/v2"
)

// Intrinsic functions of arithmetic.

var mathIntrinsics = map[string]intrinsicFunc{
	"States.MathRandom": {params: []paramKind{integerParam, integerParam, integerParam}, optional: 1, run: func(c *intrinsicCall, a intrinsicArgs, rnd randSource) (any, error) {
		start, end := a.integer(0), a.integer(1)
		if end <= start {
			return nil, intrinsicFailure(c, "the end (%d) must be greater than the start (%d)", end, start)
		}
		if len(a) == 3 {
			r := rand.New(rand.NewPCG(uint64(a.integer(2)), 0x6b6579726f746f72))
			return float64(start + r.Int64N(end-start)), nil
		}
		return float64(start + rnd.lockedRand().Int64N(end-start)), nil
	}},
	"States.MathAdd": {params: []paramKind{integerParam, integerParam}, run: func(_ *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		return float64(a.integer(0) + a.integer(1)), nil
	}},
}
