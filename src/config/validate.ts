// Schema validation with Ajv: every problem at once, each with its path in the file (`registries[0].name: ...`).
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ConfigSchema, RegistryByName, RegistryFromEndpoints, RegistryFromFile } from './schema.js';

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, coerceTypes: false });
const validateConfig = ajv.compile(ConfigSchema);
const registryValidators: Record<'name' | 'loginServer' | 'endpointsFile', ValidateFunction> = {
  name: ajv.compile(RegistryByName),
  loginServer: ajv.compile(RegistryFromEndpoints),
  endpointsFile: ajv.compile(RegistryFromFile),
};

/** `/registries/0/name` -> `registries[0].name` */
export function toDisplayPath(instancePath: string, base = ''): string {
  let out = base;
  for (const raw of instancePath.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^[0-9]+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function describe(err: ErrorObject): string {
  switch (err.keyword) {
    case 'pattern':
      return `must match ${String(err.params.pattern)}`;
    case 'additionalProperties':
      return `unknown key "${String(err.params.additionalProperty)}"`;
    case 'enum':
      return `must be one of ${(err.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(err.params.allowedValue)}`;
    default:
      return err.message ?? err.keyword;
  }
}

function format(errors: readonly ErrorObject[] | null | undefined, base = ''): string[] {
  if (!errors) return [];
  const literals = new Map<string, unknown[]>();
  const out: string[] = [];
  for (const err of errors) {
    // A union of literals (cloud, mode, enforce) reports one `const` error per branch and an anyOf:
    // fold them into one "must be one of" line.
    if (err.keyword === 'const') {
      const list = literals.get(err.instancePath) ?? [];
      list.push(err.params.allowedValue);
      literals.set(err.instancePath, list);
      continue;
    }
    if (err.keyword === 'anyOf' && literals.has(err.instancePath)) continue;
    out.push(`${toDisplayPath(err.instancePath, base) || '(root)'}: ${describe(err)}`);
  }
  for (const [path, values] of literals) {
    out.push(
      `${toDisplayPath(path, base) || '(root)'}: must be one of ${values.map((v) => JSON.stringify(v)).join(', ')}`,
    );
  }
  return out;
}

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
    registries.forEach((entry, i) => {
      const kind = registryKind(entry);
      if (kind === null) {
        problems.push(
          `registries[${i}]: must be an object with "name", "loginServer" (az acr show-endpoints output) or "endpointsFile"`,
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
