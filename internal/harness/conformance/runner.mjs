// Runs a batch of conformance scenarios in aws-local-stepfunctions (one Node process for all).
// Usage: node runner.mjs <path to aws-local-stepfunctions/build/main.node.esm.js> < batch.json
// stdin: {"scenarios": [{name, definition, input, executionArn, stateMachineArn, tasks}]}
// stdout: [{name, status, output, error, cause, path, calls, problem}]
// The task stub semantics here must match stub_test.go exactly.
import { pathToFileURL } from 'node:url';

const als = await import(pathToFileURL(process.argv[2]).href);
const { StateMachine, ExecutionError, ExecutionTimeoutError } = als;

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const batch = JSON.parse(Buffer.concat(chunks).toString('utf8'));

// walk calls fn(name, state) for every state, nested ones included.
function walk(states, fn) {
  for (const [name, state] of Object.entries(states)) {
    fn(name, state);
    for (const b of state.Branches ?? []) walk(b.States, fn);
    const proc = state.ItemProcessor ?? state.Iterator;
    if (proc) walk(proc.States, fn);
  }
}

// aws-local-stepfunctions 3.0.0 treats ResultPath "$" as a field named "$"; AWS (and the
// States Language spec) treat it as "replace the whole input", the same as leaving it out.
// Dropping it here is that documented equivalence, not a change of meaning.
function normalize(definition) {
  const d = structuredClone(definition);
  walk(d.States, (_, s) => {
    if (s.ResultPath === '$') delete s.ResultPath;
    for (const c of s.Catch ?? []) if (c.ResultPath === '$') delete c.ResultPath;
  });
  return d;
}

function respond(sc, counters, stateName, resource, input) {
  let key = null;
  if (sc.tasks && stateName in sc.tasks) key = stateName;
  else if (sc.tasks && resource in sc.tasks) key = resource;
  if (key === null) {
    const e = new Error(`no stub for state ${stateName} or resource ${resource}`);
    e.name = 'Stub.Missing';
    throw e;
  }
  const list = sc.tasks[key];
  const n = counters.get(key) ?? 0;
  counters.set(key, n + 1);
  const r = list[Math.min(n, list.length - 1)];
  if (r.error !== undefined) {
    const e = new Error(r.cause ?? '');
    e.name = r.error;
    throw e;
  }
  if ('output' in r) return structuredClone(r.output);
  if (r.echo) return structuredClone(input);
  if (r.merge) {
    const base = input && typeof input === 'object' && !Array.isArray(input) &&
      input.rotation && typeof input.rotation === 'object' && !Array.isArray(input.rotation) ? input.rotation : input;
    return { ...structuredClone(base), ...structuredClone(r.merge) };
  }
  const e = new Error('stub result has none of output, error, merge, echo');
  e.name = 'Stub.Invalid';
  throw e;
}

const machines = new Map();

async function run(sc) {
  const definition = normalize(sc.definition);
  const counters = new Map();
  const calls = [];
  const handlers = {}, waits = {}, retries = {};
  walk(definition.States, (name, state) => {
    if (state.Type === 'Task') {
      handlers[name] = (input) => {
        calls.push({ state: name, input });
        return respond(sc, counters, name, state.Resource, input);
      };
    }
    if (state.Type === 'Wait') waits[name] = 0;
    if (state.Retry) retries[name] = 0;
  });
  // Validating a definition is the slow part; scenarios of one definition share its machine
  // (runs are independent of each other by the package's API contract).
  const key = JSON.stringify(definition);
  let sm = machines.get(key);
  if (!sm) {
    try {
      sm = new StateMachine(definition);
    } catch (e) {
      return { name: sc.name, status: 'INVALID', problem: String(e.message ?? e) };
    }
    machines.set(key, sm);
  }
  const exec = sm.run(sc.input, {
    overrides: { taskResourceLocalHandlers: handlers, waitTimeOverrides: waits, retryIntervalOverrides: retries },
    context: {
      Execution: { Id: sc.executionArn, Name: sc.name.replaceAll('/', '-'), RoleArn: sc.roleArn },
      StateMachine: { Id: sc.stateMachineArn, Name: 'conformance' },
    },
  });
  const events = [];
  const collected = (async () => { for await (const ev of exec.eventLogs) events.push(ev); })();
  const out = { name: sc.name };
  try {
    out.output = await exec.result;
    out.status = 'SUCCEEDED';
  } catch (e) {
    if (e instanceof ExecutionError) {
      out.status = 'FAILED';
      out.error = e.cause?.name ?? '';
      out.cause = e.cause?.message ?? '';
    } else if (e instanceof ExecutionTimeoutError) {
      out.status = 'TIMED_OUT';
    } else {
      out.status = 'ERROR';
      out.problem = String(e?.stack ?? e);
    }
  }
  await collected;
  out.path = events.filter((ev) => ev.type === 'StateEntered').map((ev) => ev.state.name);
  out.calls = calls;
  return out;
}

const results = [];
for (const sc of batch.scenarios) {
  const began = performance.now();
  try {
    results.push({ ...(await run(sc)), ms: Math.round(performance.now() - began) });
  } catch (e) {
    results.push({ name: sc.name, status: 'ERROR', problem: String(e?.stack ?? e) });
  }
}
process.stdout.write(JSON.stringify(results));
