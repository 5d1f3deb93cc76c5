// Package sfnlocal is keyrotor's local Step Functions engine: it interprets Amazon States
// Language definitions in JSONPath mode and records an execution history named and shaped
// as AWS names and shapes it, so the rotation state machine runs the same locally (tests,
// demos, accounts without AWS) as in production. It never logs; all it has to say goes into
// the history. It uses the standard library only.
//
// Parse validates and compiles a definition once (paths, payload templates, intrinsic calls
// and choice rules); Run executes it with a TaskInvoker doing the work of Task states and a
// Clock — RealClock, or a VirtualClock under which Waits, retry backoffs and timeouts cost no
// real time. A VirtualClock is a discrete-event clock: time moves only when every goroutine
// of the runs on it (the execution's, each Parallel branch's and Map iteration's) waits for
// time or for another of them, and then to the earliest due sleeper or timer; a task's real
// work holds time still. So concurrent branches interleave as they would in real time.
//
// Supported:
//   - States: Task, Pass (Result), Choice (every String/Numeric/Boolean/Timestamp comparison
//     and its *Path form, StringMatches with * and \ escapes, And/Or/Not, IsPresent/IsNull/
//     IsString/IsNumeric/IsBoolean/IsTimestamp, Default, States.NoChoiceMatched), Wait
//     (Seconds/Timestamp/SecondsPath/TimestampPath), Succeed, Fail (Error/Cause/ErrorPath/
//     CausePath, the latter also as intrinsic functions), Parallel, inline Map (ItemsPath,
//     ItemSelector or legacy Parameters, ItemProcessor or legacy Iterator, MaxConcurrency
//     [Path] capped at AWS's 40, $$.Map.Item.Index/Value; Distributed-only fields refused
//     with AWS's SCHEMA_VALIDATION_FAILED shape), Distributed Map (mapdist.go: STANDARD child
//     executions in a Map Run through Options.MapRuns, ItemReader/ResultWriter on S3 through
//     Options.Objects, Label, ToleratedFailureCount/Percentage[Path] →
//     States.ExceedToleratedFailureThreshold).
//   - Quotas: the 256 KiB payload, and the 25,000-event history (the execution fails at
//     event 25,000 unless that event is ExecutionSucceeded).
//   - InputPath, Parameters, ResultSelector, ResultPath (null, nested creation), OutputPath;
//     JSONPath with names, indexes (negative too), wildcards, slices, unions, recursive
//     descent and filters; the context object ($$.Execution.Id/Input/Name/RoleArn/StartTime,
//     $$.State.Name/EnteredTime/RetryCount, $$.StateMachine.Id/Name, $$.Task.Token).
//   - Every intrinsic function of JSONPath mode, nested, with quoted strings and escapes;
//     bad arguments raise States.IntrinsicFailure.
//   - Retry (ErrorEquals with States.ALL/States.TaskFailed, IntervalSeconds, MaxAttempts,
//     BackoffRate, MaxDelaySeconds, JitterStrategy FULL|NONE) and Catch (ResultPath of
//     {Error, Cause}); States.Runtime and States.DataLimitExceeded are terminal as in AWS,
//     except a Task result over the quota, which AWS records as the task's catchable failure.
//   - TimeoutSeconds[Path] and HeartbeatSeconds[Path] on Task (States.Timeout /
//     States.HeartbeatTimeout; an invoker keeps a task alive with Heartbeat(ctx)), the
//     machine's TimeoutSeconds (TIMED_OUT), aborts through ctx (ABORTED; Stop gives the
//     StopExecution error and cause), the 256 KiB payload quota.
//   - .sync and .waitForTaskToken integrations: an invoker calls Submitted(ctx, response)
//     once the job has started, so TaskSubmitted (with the service's response) comes right
//     after TaskStarted and TaskSucceeded/TaskFailed when the job ends, as on AWS.
//   - History: ExecutionStarted/Succeeded/Failed/Aborted/TimedOut, <Type>StateEntered/
//     Exited/Aborted, LambdaFunction* events for Lambda function ARNs, Activity* for activity
//     ARNs and Task* for service integrations, ParallelState*, MapState*, MapIteration*, with
//     ids and previousEventId chained per branch and details under AWS's keys (checked
//     against the AWS SDK's sfn client).
//   - Speed: definitions are compiled once; values are decoded once per state and encoded
//     without reflection; a state's output text is reused as the next state's input text;
//     decoded strings share the text they came from; the most frequent events' details are
//     allocated in chunks, and a history starts as long as the machine's last one.
//
// Where is what:
//   - The API: api.go (TaskInvoker, Options, Execution), parse.go and parse_map.go (Parse: the
//     definition checked and compiled; Map's fields), run.go (Run: one execution, the runner
//     and $$), clock.go (RealClock, VirtualClock), errors.go (error names, stateError, Stop),
//     submit.go (Submitted), invoke.go (Heartbeat; a Task's invoker under TimeoutSeconds and
//     HeartbeatSeconds).
//   - How a state runs, Retry and Catch: executor.go. It runs each state the same way and
//     hands one attempt to its type's file: pass.go, task.go, choice.go, wait.go, succeed.go,
//     fail.go, parallel.go, map.go (mapinline.go, mapdist.go). InputPath, Parameters,
//     ResultSelector, ResultPath, OutputPath: dataflow.go.
//   - History: eventlog.go makes every event (one constant per event type, one function per
//     event); history.go is the log (ids, the quota, OnEvent) and the details' wire shapes;
//     thread.go chains events per branch and iteration.
//   - JSONPath (filters too): paths.go; payload templates: payload.go; intrinsic functions:
//     intrinsics.go (parser, argument checks, registry) and intrinsics_string.go,
//     intrinsics_array.go, intrinsics_math.go, intrinsics_encoding.go.
//   - JSON: decode.go (decoding without reflection), encode.go, values.go (value helpers),
//     splice.go (an output's text spliced from its input's).
//
// Not supported (Parse rejects them with a clear error): JSONata, variables (Assign),
// ItemBatcher, ItemReaders other than a JSON array in one S3 object, EXPRESS child
// executions, Activity semantics beyond running the resource through the TaskInvoker.
//
// Service integrations are not emulated: the invoker receives the Resource as written and
// returns its result (for arn:aws:states:::lambda:invoke it is the invoker's choice to wrap
// the payload as AWS does).
package sfnlocal
