// simulationOf turns one request, as SimulationRequest encodes it ({principal, action, resource,
// accountId, context, identityPolicies: [{name, policy}], resourcePolicy}), into the argument
// of @cloud-copilot/iam-simulate's runSimulation: no service or resource control policies.
// SimulationScript prepends it to each script that drives iam-simulate (trust.cjs here).
'use strict';
function simulationOf(req) {
  return {
    request: {
      principal: req.principal,
      action: req.action,
      resource: { resource: req.resource, accountId: req.accountId },
      contextVariables: req.context || {},
    },
    identityPolicies: req.identityPolicies || [],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: req.resourcePolicy || undefined,
  };
}
