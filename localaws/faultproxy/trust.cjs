// The fault proxy's trust-policy evaluator (trust.go): reads one JSON request a line on stdin,
// evaluates it with @cloud-copilot/iam-simulate (its package directory is the one argument)
// and writes one JSON result a line: {"result": "Allowed"|…} or {"error": "…"}.
// A request is a SimulationRequest; simulationOf (simulation.cjs) comes before this script.
const path = require('path');
const readline = require('readline');
const { runSimulation } = require(path.join(process.argv[2], 'dist', 'cjs', 'index.js'));

async function evaluate(req) {
  const run = await runSimulation(simulationOf(req), {});
  if (run.resultType === 'error') return { error: JSON.stringify(run.errors) };
  if (run.resultType !== 'single') return { error: 'not a single resource: ' + req.resource };
  return { result: run.result.analysis.result };
}

const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(async () => {
    let out;
    try {
      out = await evaluate(JSON.parse(line));
    } catch (e) {
      out = { error: String(e && e.message ? e.message : e) };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  });
});
