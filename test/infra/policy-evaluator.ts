/**
 * A small IAM policy evaluator over synthesized CloudFormation templates, for the stack tests to
 * ask what a role may do, as AWS would decide it for a principal and a bucket in one account: an
 * explicit Deny in the role's policies or the resource's policy wins; otherwise an Allow in either
 * allows; otherwise the request is denied.
 *
 * It resolves the intrinsics the stack uses (Ref, Fn::GetAtt, Fn::Join, a nested stack's
 * parameters and outputs) to concrete strings, and knows the condition operators the stack's
 * policies use; a statement with any other operator throws, so a new condition cannot pass unseen.
 */
import type { NestedStack, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';

export const ACCOUNT = '123456789012';
const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::AccountId': ACCOUNT,
  'AWS::Region': 'eu-west-1',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'DbBackup',
};

interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
}
interface TemplateJson {
  Resources: Record<string, Resource>;
  Outputs?: Record<string, { Value: unknown }>;
  Parameters?: Record<string, unknown>;
}

/** One template and how to resolve what it refers to. */
export class StackTemplate {
  readonly children = new Map<string, StackTemplate>();

  constructor(
    readonly name: string,
    readonly json: TemplateJson,
    private readonly parameters: Record<string, string> = {},
  ) {}

  /** Adds a nested stack's template, its parameters resolved from this template's AWS::CloudFormation::Stack resource. */
  nest(logicalId: string, json: TemplateJson, name: string): StackTemplate {
    const resource = this.json.Resources[logicalId];
    if (resource?.Type !== 'AWS::CloudFormation::Stack') throw new Error(`${logicalId} is not a nested stack`);
    const given = (resource.Properties?.Parameters ?? {}) as Record<string, unknown>;
    const child = new StackTemplate(
      name,
      json,
      Object.fromEntries(Object.entries(given).map(([k, v]) => [k, this.resolve(v) as string])),
    );
    this.children.set(logicalId, child);
    return child;
  }

  /** Resolves intrinsics to concrete values. */
  resolve(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (value === null || typeof value !== 'object') return value;
    const object = value as Record<string, unknown>;
    if ('Ref' in object) return this.ref(object.Ref as string);
    if ('Fn::GetAtt' in object) {
      const [id, attribute] = object['Fn::GetAtt'] as [string, string];
      return this.getAtt(id, attribute);
    }
    if ('Fn::Join' in object) {
      const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
      return (this.resolve(parts) as unknown[]).join(separator);
    }
    if ('Fn::Select' in object) {
      const [index, list] = object['Fn::Select'] as [number, unknown];
      return (this.resolve(list) as unknown[])[index];
    }
    if ('Fn::Split' in object) {
      const [separator, text] = object['Fn::Split'] as [string, unknown];
      return String(this.resolve(text)).split(separator);
    }
    return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, this.resolve(v)]));
  }

  private ref(id: string): string {
    if (id in PSEUDO) return PSEUDO[id] as string;
    if (id in this.parameters) return this.parameters[id] as string;
    const resource = this.json.Resources[id];
    if (!resource) throw new Error(`${this.name}: Ref to unknown ${id}`);
    if (resource.Type === 'AWS::S3::Bucket') return `bucket-${id.toLowerCase()}`;
    if (resource.Type === 'AWS::IAM::Role') return `${this.name}-${id}`;
    return `${this.name}/${id}`;
  }

  private getAtt(id: string, attribute: string): string {
    const resource = this.json.Resources[id];
    if (!resource) throw new Error(`${this.name}: GetAtt of unknown ${id}`);
    if (attribute.startsWith('Outputs.')) {
      const child = this.children.get(id);
      if (!child) throw new Error(`${this.name}: nested stack ${id} was not added`);
      return child.resolve(child.json.Outputs?.[attribute.slice('Outputs.'.length)]?.Value) as string;
    }
    if (attribute === 'Arn' && resource.Type === 'AWS::S3::Bucket') return `arn:aws:s3:::${this.ref(id)}`;
    if (attribute === 'Arn' && resource.Type === 'AWS::IAM::Role') return `arn:aws:iam::${ACCOUNT}:role/${this.ref(id)}`;
    if (attribute === 'Arn' && resource.Type === 'AWS::KMS::Key')
      return `arn:aws:kms:eu-west-1:${ACCOUNT}:key/${this.name}-${id}`;
    if (attribute === 'Arn' && resource.Type === 'AWS::SNS::Topic') return this.ref(id);
    return `${this.name}/${id}.${attribute}`;
  }

  /** The resources of a type in this template and its nested stacks. */
  *all(type: string): Iterable<{ stack: StackTemplate; id: string; resource: Resource }> {
    for (const [id, resource] of Object.entries(this.json.Resources))
      if (resource.Type === type) yield { stack: this, id, resource };
    for (const child of this.children.values()) yield* child.all(type);
  }
}

/** A policy statement, resolved. */
export interface Statement {
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Principal?: '*' | { AWS?: string | string[]; Service?: string | string[] };
  Condition?: Record<string, Record<string, string | string[]>>;
}

/** A request: who, what, on what, with which condition keys (absent keys are absent). */
export interface Request {
  readonly principal: string;
  readonly action: string;
  readonly resource: string;
  readonly context?: Record<string, string>;
}

const list = (value: string | string[] | undefined): string[] => (value === undefined ? [] : [value].flat());

/** `*` and `?` wildcards, as IAM matches actions (case-insensitively) and resources. */
function wildcard(pattern: string, value: string, ignoreCase = false): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, ignoreCase ? 'i' : '').test(value);
}

function conditionHolds(operator: string, key: string, expected: string[], context: Record<string, string>): boolean {
  const actual = Object.hasOwn(context, key) ? context[key] : undefined;
  const ifExists = operator.endsWith('IfExists');
  const base = ifExists ? operator.slice(0, -'IfExists'.length) : operator;
  if (ifExists && actual === undefined) return true;
  switch (base) {
    case 'Null':
      return expected.some((e) => (e === 'true') === (actual === undefined));
    case 'Bool':
      return actual !== undefined && expected.some((e) => e.toLowerCase() === actual.toLowerCase());
    case 'StringEquals':
    case 'ArnEquals':
      return actual !== undefined && expected.includes(actual);
    case 'StringNotEquals':
    case 'ArnNotEquals':
      return actual === undefined || !expected.includes(actual);
    case 'StringLike':
    case 'ArnLike':
      return actual !== undefined && expected.some((e) => wildcard(e, actual));
    case 'StringNotLike':
      return actual === undefined || !expected.some((e) => wildcard(e, actual));
    default:
      throw new Error(`the policy evaluator does not know the condition operator ${operator}`);
  }
}

function matches(statement: Statement, request: Request, resourcePolicy: boolean): boolean {
  if (resourcePolicy) {
    const principal = statement.Principal;
    // A service is asked about as `service:<name>`, e.g. service:cloudwatch.amazonaws.com.
    const principals =
      principal === '*' ? ['*'] : [...list(principal?.AWS), ...list(principal?.Service).map((s) => `service:${s}`)];
    if (!principals.some((p) => p === '*' || p === request.principal)) return false;
  }
  const action = (patterns: string[]) => patterns.some((p) => wildcard(p, request.action, true));
  if (statement.Action && !action(list(statement.Action))) return false;
  if (statement.NotAction && action(list(statement.NotAction))) return false;
  const resource = (patterns: string[]) => patterns.some((p) => wildcard(p, request.resource));
  if (statement.Resource && !resource(list(statement.Resource))) return false;
  if (statement.NotResource && resource(list(statement.NotResource))) return false;
  for (const [operator, keys] of Object.entries(statement.Condition ?? {}))
    for (const [key, expected] of Object.entries(keys))
      if (!conditionHolds(operator, key, list(expected), request.context ?? {})) return false;
  return true;
}

/** AWS's decision for a request in one account, given the principal's and the resource's policies. */
export function decide(request: Request, identity: readonly Statement[], resource: readonly Statement[]): 'allow' | 'deny' {
  const applicable = [
    ...identity.filter((s) => matches(s, request, false)),
    ...resource.filter((s) => matches(s, request, true)),
  ];
  if (applicable.some((s) => s.Effect === 'Deny')) return 'deny';
  return applicable.some((s) => s.Effect === 'Allow') ? 'allow' : 'deny';
}

/** The statements of a role's inline policies and the AWS::IAM::Policy resources attached to it, resolved. */
export function roleStatements(stack: StackTemplate, roleId: string): Statement[] {
  const role = stack.json.Resources[roleId];
  if (role?.Type !== 'AWS::IAM::Role') throw new Error(`${roleId} is not a role`);
  const documents: unknown[] = ((role.Properties?.Policies as Array<{ PolicyDocument: unknown }>) ?? []).map(
    (p) => p.PolicyDocument,
  );
  for (const resource of Object.values(stack.json.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const roles = (resource.Properties?.Roles as Array<{ Ref?: string }>) ?? [];
    if (roles.some((r) => r.Ref === roleId)) documents.push(resource.Properties?.PolicyDocument);
  }
  return documents.flatMap((d) => list((stack.resolve(d) as { Statement: Statement | Statement[] }).Statement as never) as never);
}

/** The statements of a resource policy (bucket, key, topic) of the given type, resolved. */
export function resourcePolicyStatements(stack: StackTemplate, type: string, documentProperty: string): Statement[] {
  return [...stack.all(type)].flatMap(
    ({ stack: owner, resource }) =>
      list((owner.resolve(resource.Properties?.[documentProperty]) as { Statement: Statement[] }).Statement as never) as never,
  );
}

/**
 * The deployment's root template and its groups' templates, each group's parameters resolved
 * from the root, so a policy naming another stack's resource can be evaluated.
 */
export function deployedTemplates(stack: Stack & { groups: readonly NestedStack[] }): {
  root: StackTemplate;
  groups: StackTemplate[];
} {
  const root = new StackTemplate(stack.stackName, Template.fromStack(stack).toJSON() as never);
  const groups = stack.groups.map((group) =>
    root.nest(stack.getLogicalId(group.nestedStackResource as never), Template.fromStack(group).toJSON() as never, group.node.id),
  );
  return { root, groups };
}
