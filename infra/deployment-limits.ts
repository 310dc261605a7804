import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../shared/errors.js';
import { DATABASES_PER_GROUP } from './plan-database-groups.js';

/** CloudFormation's limits a template must keep to deploy (per stack; a nested stack is a stack). */
export const CLOUDFORMATION_LIMITS = {
  resources: 500,
  outputs: 200,
  parameters: 200,
  /** Bytes of a template uploaded through S3, as CDK deploys them. */
  templateBytes: 1_000_000,
} as const;

/** IAM's limit on the inline policies of one role, in characters without whitespace. */
export const ROLE_INLINE_POLICY_CHARACTERS = 10_240;

/** What one synthesized template holds, against the limits. */
export interface TemplateSize {
  readonly file: string;
  readonly resources: number;
  readonly outputs: number;
  readonly parameters: number;
  readonly bytes: number;
}

/** Measures every template (stacks and nested stacks) in a synthesized cloud assembly directory. */
export function measureTemplates(assemblyDir: string): TemplateSize[] {
  return readdirSync(assemblyDir)
    .filter((file) => file.endsWith('.template.json'))
    .map((file) => {
      const text = readFileSync(join(assemblyDir, file), 'utf8');
      const template = JSON.parse(text) as { Resources?: object; Outputs?: object; Parameters?: object };
      return {
        file,
        resources: Object.keys(template.Resources ?? {}).length,
        outputs: Object.keys(template.Outputs ?? {}).length,
        parameters: Object.keys(template.Parameters ?? {}).length,
        // As CloudFormation counts it: the template CDK uploads, minified.
        bytes: Buffer.byteLength(JSON.stringify(template)),
      };
    });
}

/**
 * Fails, in one line naming the stack, the limit and what to change, when a synthesized template
 * would not deploy. The grouping rule keeps each group's nested stack small; what can still grow
 * past a limit is the number of groups (databases on many different networks) in the main stack.
 */
export function checkDeploymentLimits(assemblyDir: string): TemplateSize[] {
  const sizes = measureTemplates(assemblyDir);
  for (const size of sizes) {
    const over = (
      [
        ['resources', size.resources, CLOUDFORMATION_LIMITS.resources],
        ['outputs', size.outputs, CLOUDFORMATION_LIMITS.outputs],
        ['parameters', size.parameters, CLOUDFORMATION_LIMITS.parameters],
        ['bytes', size.bytes, CLOUDFORMATION_LIMITS.templateBytes],
      ] as const
    ).find(([, value, limit]) => value > limit);
    if (over) {
      const [what, value, limit] = over;
      throw new ConfigError(
        `this config cannot be deployed: ${size.file.replace('.template.json', '')} would hold ${value} ${what}, more than the ${limit} CloudFormation allows a stack`,
        {
          hint: `databases that share a network share a nested stack (${DATABASES_PER_GROUP} a group): put databases on fewer distinct networks (vpc subnets and security groups), or split the config into two deployments with different stack names (-c stackName=…)`,
        },
      );
    }
  }
  return sizes;
}
