// Schema validation with Ajv: every problem at once, each with its path in the file (`registries[0].name: ...`).
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { didYouMean } from './suggest.js';
import { ConfigSchema, RegistryByName, RegistryFromEndpoints, RegistryFromFile } from './schema.js';

// verbose: errors carry the value and the schema, for messages that quote both.
const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, coerceTypes: false, verbose: true });
const validateConfig = ajv.compile(ConfigSchema);
const registryValidators: Record<'name' | 'loginServer' | 'endpointsFile', ValidateFunction> = {
  name: ajv.compile(RegistryByName),
  loginServer: ajv.compile(RegistryFromEndpoints),
  endpointsFile: ajv.compile(RegistryFromFile),
};

/** `/registries/0/name` -> `registries[0].name` */
function toDisplayPath(instancePath: string, base = ''): string {
  let out = base;
  for (const raw of instancePath.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^[0-9]+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

type SchemaNode = {
  const?: unknown;
  type?: string;
  description?: string;
  pattern?: string;
  explain?: string;
  properties?: Record<string, unknown>;
  anyOf?: SchemaNode[];
};

const show = (v: unknown): string => (typeof v === 'string' ? `\`${v}\`` : JSON.stringify(v));

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'number' ? (Number.isInteger(v) ? 'integer' : 'number') : typeof v;
}

function branchText(b: SchemaNode): string {
  if ('const' in b) return JSON.stringify(b.const);
  if (b.type === 'null') return 'null';
  return b.description ?? `a${/^[aeiou]/.test(b.type ?? '') ? 'n' : ''} ${b.type ?? 'value'}`;
}

/** One human sentence per error: the offending value, what was expected, a suggestion where one exists. */
function describe(err: ErrorObject): string {
  const schema = (err.parentSchema ?? {}) as SchemaNode;
  switch (err.keyword) {
    case 'pattern':
      if (schema.explain !== undefined) return `${show(err.data)} ${schema.explain}`;
      return `${show(err.data)} is not ${schema.description ?? `of the form ${String(err.params.pattern)}`}`;
    case 'additionalProperties': {
      const key = String(err.params.additionalProperty);
      return `unknown key "${key}"${didYouMean(key, Object.keys(schema.properties ?? {}))}`;
    }
    case 'enum':
      return `must be one of ${(err.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(err.params.allowedValue)}`;
    case 'type':
      return `${show(err.data)} is ${typeOf(err.data)}; must be ${branchText(schema)}`;
    case 'anyOf':
      return `${show(err.data)}: must be one of ${(schema.anyOf ?? []).map(branchText).join(', ')}`;
    default:
      return err.message ?? err.keyword;
  }
}

/**
 * A union (cloud, serviceTags.enforce, host:port or null) makes Ajv report each branch's failure and
 * the anyOf itself. Keep one error per mistake: the errors of the one branch of the value's own type
 * (a string that breaks the host:port pattern), else the anyOf alone ("must be one of ...").
 */
function foldUnions(errors: readonly ErrorObject[]): ErrorObject[] {
  let out = [...errors];
  for (const union of errors.filter((e) => e.keyword === 'anyOf')) {
    const prefix = `${union.schemaPath}/`;
    const branches = ((union.parentSchema ?? {}) as SchemaNode).anyOf ?? [];
    const own = branches
      .map((b, i) => ({ b, i }))
      .filter(
        ({ b }) =>
          !('const' in b) && (b.type === typeOf(union.data) || (b.type === 'number' && typeof union.data === 'number')),
      );
    const keep = own.length === 1 ? `${prefix}${own[0]!.i}/` : null;
    out = out.filter((e) => {
      if (e === union) return keep === null;
      if (!e.schemaPath.startsWith(prefix)) return true;
      return keep !== null && e.schemaPath.startsWith(keep);
    });
  }
  return out;
}

function format(errors: readonly ErrorObject[] | null | undefined, base = ''): string[] {
  if (!errors) return [];
  const seen = new Set<string>();
  const out: string[] = [];
  for (const err of foldUnions(errors)) {
    const line = `${toDisplayPath(err.instancePath, base) || '(root)'}: ${describe(err)}`;
    if (!seen.has(line)) out.push(line);
    seen.add(line);
  }
  return out;
}

const SHAPE_KEYS = ['name', 'loginServer', 'endpointsFile'] as const;

function registryKind(entry: unknown): keyof typeof registryValidators | null {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return null;
  if ('name' in entry) return 'name';
  if ('loginServer' in entry) return 'loginServer';
  if ('endpointsFile' in entry) return 'endpointsFile';
  return null;
}

/**
 * Validates and fills defaults in place. Returns the problems (empty when valid).
 * Registry entries are checked against the one variant they name, so a bad entry gets the
 * errors of its own shape rather than the noise of every union branch.
 */
export function validateConfigShape(doc: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const registries = doc.registries;
  if (Array.isArray(registries)) {
    registries.forEach((entry: unknown, i) => {
      const kind = registryKind(entry);
      if (kind === null) {
        // A misspelt key that picks the shape (`nmae:`) is the likely mistake: name it.
        const keys = entry !== null && typeof entry === 'object' ? Object.keys(entry) : [];
        const meant = keys.map((key) => ({ key, hint: didYouMean(key, SHAPE_KEYS) })).find(({ hint }) => hint !== '');
        problems.push(
          meant === undefined
            ? `registries[${i}]: must be an object with "name", "loginServer" (az acr show-endpoints output) or "endpointsFile"`
            : `registries[${i}]: unknown key "${meant.key}"${meant.hint}`,
        );
        return;
      }
      const check = registryValidators[kind];
      if (!check(entry)) problems.push(...format(check.errors, `registries[${i}]`));
    });
  }
  if (!validateConfig(doc)) {
    const rest = (validateConfig.errors ?? []).filter(
      (e: ErrorObject) => !/^\/registries\/[0-9]+/.test(e.instancePath),
    );
    problems.push(...format(rest));
  }
  return problems;
}
