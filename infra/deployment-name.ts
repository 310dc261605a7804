import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * The deployment's stack name, from inside a group's nested stack too, whose own name is one
 * CloudFormation generates: function and task names are derived from it, as `dbbackup invoke` derives them.
 */
export function deploymentName(scope: IConstruct): string {
  let stack = Stack.of(scope);
  while (stack.nestedStackParent) stack = stack.nestedStackParent;
  return stack.stackName;
}
