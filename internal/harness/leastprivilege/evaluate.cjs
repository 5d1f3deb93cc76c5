// keyrotor's IAM evaluator: reads {"requests": [...]} on stdin, evaluates each with
// @cloud-copilot/iam-simulate and writes {"results": [...]} on stdout. Run by Go
// (internal/leastprivilege) with the iam-simulate package directory as its one argument.
//
// Each request is a faultproxy.SimulationRequest, which simulationOf (localaws/faultproxy/
// simulation.cjs, put before this script) turns into runSimulation's argument. Each result:
// {result, decisive: [{policy, sid, effect}], error}.
//
// runSimulation validates everything (policies, action, resource type, context keys). It drops
// kms:EncryptionContext:<key> context keys, which its key matcher does not recognise (it only
// expands variable keys written with a "/"); such requests are evaluated again by the same core
// engine runSimulation uses, with those keys restored. Any other dropped key is an error: the
// call table would be claiming context that does not apply to the action.
const path = require('path');
const lib = process.argv[1];
const cjs = (p) => require(path.join(lib, 'dist', 'cjs', p));
const { runSimulation } = cjs('index.js');
const { normalizeSimulationParameters } = cjs('simulation_engine/simulationEngine.js');
const { authorize } = cjs('core_engine/CoreSimulatorEngine.js');
const { AwsRequestImpl } = cjs('request/request.js');
const { RequestContextImpl } = cjs('requestContext.js');
const { DiscoveryContextKeyConstraints } = cjs('context_keys/discoveryContextKeyConstraints.js');
const { loadPolicy } = require(require.resolve('@cloud-copilot/iam-policy', { paths: [lib] }));

const encryptionContextKey = /^kms:encryptioncontext:/i;

async function evaluate(req) {
  const simulation = simulationOf(req);
  const run = await runSimulation(simulation, {});
  if (run.resultType === 'error') {
    return { error: JSON.stringify(run.errors) };
  }
  if (run.resultType !== 'single') {
    return { error: `resource ${req.resource} is a pattern; give the exact ARN the call used` };
  }
  const ignored = run.result.ignoredContextKeys || [];
  const unknown = ignored.filter((k) => !encryptionContextKey.test(k));
  if (unknown.length > 0) {
    return { error: `context keys ${unknown.join(', ')} do not apply to ${req.action} on ${req.resource}` };
  }
  let analysis = run.result.analysis;
  if (ignored.length > 0) {
    const { validContextValues } = await normalizeSimulationParameters(simulation, undefined);
    for (const k of ignored) validContextValues[k] = simulation.request.contextVariables[k];
    analysis = authorize({
      request: new AwsRequestImpl(req.principal, { resource: req.resource, accountId: req.accountId }, req.action,
        new RequestContextImpl(validContextValues), false),
      sessionPolicy: undefined,
      identityPolicies: simulation.identityPolicies.map((p) => loadPolicy(p.policy, { name: p.name })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: simulation.resourcePolicy ? loadPolicy(simulation.resourcePolicy, { name: 'resource' }) : undefined,
      permissionBoundaries: undefined,
      vpcEndpointPolicies: undefined,
      simulationParameters: { simulationMode: 'Strict', discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([]) },
      serviceSettings: { s3: {} },
    });
  }
  const decisive = [];
  const take = (policy, statements, effect) => {
    for (const s of statements || []) decisive.push({ policy: policy(s), sid: s.explain.identifier, effect });
  };
  const allowed = analysis.result === 'Allowed';
  const identity = analysis.identityAnalysis;
  const resource = analysis.resourceAnalysis;
  if (allowed) {
    take((s) => s.policyId, identity && identity.allowStatements, 'Allow');
    take(() => 'resource', resource && resource.allowStatements, 'Allow');
  } else {
    take((s) => s.policyId, identity && identity.denyStatements, 'Deny');
    take(() => 'resource', resource && resource.denyStatements, 'Deny');
  }
  return { result: analysis.result, decisive };
}

(async () => {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const { requests } = JSON.parse(input);
  const results = [];
  for (const req of requests) {
    try {
      results.push(await evaluate(req));
    } catch (e) {
      results.push({ error: String(e && e.message ? e.message : e) });
    }
  }
  process.stdout.write(JSON.stringify({ results }));
})().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
