import { CfnParameter, CfnRule, Fn, type Stack } from 'aws-cdk-lib';

/**
 * Makes CloudFormation refuse to create or update `stack`, with `reason` as the error, while
 * `cdk synth` still shows the template. The CDK CLI runs the app the same way for a synth and a
 * deploy, so the app cannot refuse a deploy itself; a template rule is checked at every change set,
 * before anything is created. The parameter lets a deliberate deploy through
 * (`--parameters <stack>:DeployAnyway=yes`), and keeps the rule one CloudFormation accepts.
 */
export function refuseDeployment(stack: Stack, reason: string): void {
  const anyway = new CfnParameter(stack, 'DeployAnyway', {
    type: 'String',
    default: 'no',
    allowedValues: ['no', 'yes'],
    description: 'yes deploys a template dbbackup synthesized from its example config',
  });
  new CfnRule(stack, 'RefuseExampleConfig', {
    assertions: [{ assert: Fn.conditionEquals(anyway.valueAsString, 'yes'), assertDescription: reason }],
  });
}
