// Times one workflow in aws-local-stepfunctions inside one Node process (startup and module
// loading are not counted). Usage: node engine.mjs <aws-local-stepfunctions main.node.esm.js> < job.json
// stdin: {definition, input, tasks: {stateName: result}, warmup, minRuns, minMillis}
// stdout: {runs, seconds, output, path}
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

const { StateMachine } = await import(pathToFileURL(process.argv[2]).href);

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const job = JSON.parse(Buffer.concat(chunks).toString('utf8'));

// The stubs answer a fresh copy of the configured result, as the Go side returns its bytes.
const handlers = {};
for (const [name, result] of Object.entries(job.tasks)) {
  const text = JSON.stringify(result);
  handlers[name] = async () => JSON.parse(text);
}
const sm = new StateMachine(job.definition);
const options = { overrides: { taskResourceLocalHandlers: handlers } };

// One run with the event log read, to report the states entered (not timed).
const first = sm.run(job.input, options);
const path = [];
const logged = (async () => {
  for await (const ev of first.eventLogs) if (ev.type === 'StateEntered') path.push(ev.state.name);
})();
const output = await first.result;
await logged;

for (let i = 0; i < job.warmup; i++) await sm.run(job.input, options).result;

let runs = 0;
const start = performance.now();
let elapsed = 0;
while (runs < job.minRuns || elapsed < job.minMillis) {
  await sm.run(job.input, options).result;
  runs++;
  elapsed = performance.now() - start;
}
process.stdout.write(JSON.stringify({ runs, seconds: elapsed / 1000, output, path }));
