package sfnlocal

// Intrinsic functions on arrays.

var arrayIntrinsics = map[string]intrinsicFunc{
	"States.Array": {variadic: true, run: func(_ *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		return append([]any{}, a...), nil
	}},
	"States.ArrayPartition": {params: []paramKind{arrayParam, integerParam}, run: func(c *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		items, n := a.arr(0), int(a.integer(1))
		if n <= 0 {
			return nil, intrinsicFailure(c, "the chunk size must be a positive integer, got %d", n)
		}
		out := []any{}
		for i := 0; i < len(items); i += n {
			out = append(out, append([]any{}, items[i:min(len(items), i+n)]...))
		}
		return out, nil
	}},
	"States.ArrayContains": {params: []paramKind{arrayParam, anyParam}, run: func(_ *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		for _, e := range a.arr(0) {
			if deepEqual(e, a[1]) {
				return true, nil
			}
		}
		return false, nil
	}},
	"States.ArrayRange": {params: []paramKind{integerParam, integerParam, integerParam}, run: func(c *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		start, end, step := a.integer(0), a.integer(1), a.integer(2)
		if step == 0 {
			return nil, intrinsicFailure(c, "the step must not be 0")
		}
		out := []any{}
		for v := start; (step > 0 && v <= end) || (step < 0 && v >= end); v += step {
			if len(out) == 1000 {
				return nil, intrinsicFailure(c, "the range has more than 1000 items")
			}
			out = append(out, float64(v))
		}
		return out, nil
	}},
	"States.ArrayGetItem": {params: []paramKind{arrayParam, integerParam}, run: func(c *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		items, i := a.arr(0), a.integer(1)
		if i < 0 || i >= int64(len(items)) {
			return nil, intrinsicFailure(c, "index %d is outside the array of %d items", i, len(items))
		}
		return items[i], nil
	}},
	"States.ArrayLength": {params: []paramKind{arrayParam}, run: func(_ *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		return float64(len(a.arr(0))), nil
	}},
	"States.ArrayUnique": {params: []paramKind{arrayParam}, run: func(_ *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		out := []any{}
	next:
		for _, e := range a.arr(0) {
			for _, seen := range out {
				if deepEqual(e, seen) {
					continue next
				}
			}
			out = append(out, e)
		}
		return out, nil
	}},
}
