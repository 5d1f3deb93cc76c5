// Times one workflow in aws-local-stepfunctions inside one Node process, in rounds the Go side
// interleaves with its own (startup and module loading are not counted).
// Usage: node engine.mjs <aws-local-stepfunctions main.node.esm.js>
// stdin, one JSON document per line: first {definition, input, tasks: {stateName: result},
// warmup}, then {minRuns, minMillis} per round. stdout, one JSON line each: first
// {output, path} (one run with its event log read, then the warm-up), then {runs, seconds,
// cpuSeconds} per round (cpuSeconds: the process's user+system time, all its threads).
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

const { StateMachine } = await import(pathToFileURL(process.argv[2]).href);
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]();

const job = JSON.parse((await lines.next()).value);
// The stubs answer a fresh copy of the configured result, as the Go side returns its bytes.
const handlers = {};
for (const [name, result] of Object.entries(job.tasks)) {
  const text = JSON.stringify(result);
  handlers[name] = async () => JSON.parse(text);
}
const sm = new StateMachine(job.definition);
const options = { overrides: { taskResourceLocalHandlers: handlers } };

const first = sm.run(job.input, options);
const path = [];
const logged = (async () => {
  for await (const ev of first.eventLogs) if (ev.type === 'StateEntered') path.push(ev.state.name);
})();
const output = await first.result;
await logged;
for (let i = 0; i < job.warmup; i++) await sm.run(job.input, options).result;
process.stdout.write(JSON.stringify({ output, path }) + '\n');

for (let next = await lines.next(); !next.done; next = await lines.next()) {
  const round = JSON.parse(next.value);
  let runs = 0;
  let elapsed = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  while (runs < round.minRuns || elapsed < round.minMillis) {
    await sm.run(job.input, options).result;
    runs++;
    elapsed = performance.now() - start;
  }
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ runs, seconds: elapsed / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 }) + '\n');
}
