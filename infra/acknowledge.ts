import { CfnElement, Names, Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Acknowledges cdk-nag AWS Solutions findings on a construct (and what it contains), with the reason. */
export function acknowledge(scope: IConstruct, findings: readonly string[], reason: string): void {
  acknowledgeNag(
    scope,
    findings.map((finding) => `AwsSolutions::AwsSolutions-${finding}`),
    reason,
  );
}

/** Acknowledges cdk-nag findings of any pack by their full id (`Serverless::Serverless-LambdaTracing`), with the reason. */
export function acknowledgeNag(scope: IConstruct, ids: readonly string[], reason: string): void {
  for (const id of ids) Validations.of(scope).acknowledge({ id, reason });
}

/**
 * How cdk-nag writes a resource's ARN in a finding: `<LogicalId.Arn>`, or `<parameter>` in a nested
 * stack, which receives the ARN of a resource of its parent as a parameter.
 */
export function arnInFinding(scope: IConstruct, arn: string): string {
  const resolved = Stack.of(scope).resolve(arn) as { 'Fn::GetAtt'?: [string, string]; Ref?: string };
  const getAtt = resolved['Fn::GetAtt'];
  const stack = Stack.of(scope);
  const parent = stack.nestedStackParent;
  const inParent = getAtt && parent && !elementOf(stack, getAtt[0]) ? elementOf(parent, getAtt[0]) : undefined;
  if (getAtt && inParent) {
    // A nested stack receives its parent's resource as the parameter CDK names `referenceto<unique id><Attr>`.
    return `<referenceto${Names.nodeUniqueId(inParent.node)}${getAtt[1].replace(/\./g, '')}>`;
  }
  if (getAtt) return `<${getAtt[0]}.${getAtt[1]}>`;
  if (resolved.Ref) return `<${resolved.Ref}>`;
  throw new Error(`not a resource ARN: ${JSON.stringify(resolved)}`);
}

function elementOf(stack: Stack, logicalId: string): CfnElement | undefined {
  return stack.node
    .findAll()
    .find((c): c is CfnElement => c instanceof CfnElement && Stack.of(c) === stack && stack.resolve(c.logicalId) === logicalId);
}
