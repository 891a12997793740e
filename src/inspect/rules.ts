// The rules on an inspected registry's API, pure: a parsed route and a method in, a verdict out.
//
// Checks run in this order, and the first failing one names the reason:
//   1. the route is known and unambiguous, the method one it takes      request_not_allowed
//   2. pullOnly: no upload, manifest PUT or any DELETE                   push_not_allowed
//   3. repositories: the named repository (and a mount's from=) match   repository_not_allowed
//      (/v2/_catalog and /acr/v1/_catalog are refused while a list is set: they list every name)
// ACR's /acr/v1 listing calls (repository attributes, its tags, its manifests) are read-only and
// name one repository, so GET/HEAD on them belong with pull; PATCH/DELETE on them are writes.
import type { ResolvedRegistry } from '../config/registries.js';
import type { Reason } from '../policy/reasons.js';
import { compileRepositoryList } from '../net/repository-pattern.js';
import type { RegistryRoute } from './registry-path.js';

export interface RegistryRequestRules {
  readonly registry: string;
  readonly pullOnly: boolean;
  /** null: any repository. */
  readonly repositories: RegExp | null;
}

export interface RequestVerdict {
  /** null: allowed. */
  readonly reason: Reason | null;
  readonly detail: string;
}

const READ = new Set(['GET', 'HEAD']);

export function compileRegistryRules(reg: ResolvedRegistry): RegistryRequestRules {
  let repositories: RegExp | null = null;
  if (reg.repositories !== null) {
    const compiled = compileRepositoryList(reg.repositories);
    // The config loader has refused bad patterns; refusing everything is the safe side if one slips by.
    repositories = 'regex' in compiled ? compiled.regex : /(?!)/;
  }
  return Object.freeze({ registry: reg.name, pullOnly: reg.pullOnly, repositories });
}

const ALLOWED: RequestVerdict = Object.freeze({ reason: null, detail: '' });

function refuse(reason: Reason, detail: string): RequestVerdict {
  return { reason, detail };
}

type Access = 'read' | 'write' | 'bad';

/** Which methods each route takes, and whether each is a read or a write. */
function access(method: string, route: RegistryRoute): Access {
  switch (route.kind) {
    case 'base':
    case 'catalog':
    case 'tags':
    case 'referrers':
      return READ.has(method) ? 'read' : 'bad';
    case 'token':
      return method === 'POST' || (method === 'GET' && route.endpoint === 'token') ? 'read' : 'bad';
    case 'manifest':
      return READ.has(method) ? 'read' : method === 'PUT' || method === 'DELETE' ? 'write' : 'bad';
    case 'blob':
      return READ.has(method) ? 'read' : method === 'DELETE' ? 'write' : 'bad';
    case 'upload':
      return ['POST', 'PATCH', 'PUT', 'GET', 'DELETE'].includes(method) ? 'write' : 'bad';
    case 'acr':
      return READ.has(method) ? 'read' : method === 'PATCH' || method === 'DELETE' ? 'write' : 'bad';
    default:
      return 'bad';
  }
}

export function checkRegistryRequest(
  rules: RegistryRequestRules,
  method: string,
  route: RegistryRoute,
): RequestVerdict {
  if (route.kind === 'ambiguous') return refuse('request_not_allowed', route.detail);
  if (route.kind === 'unknown') return refuse('request_not_allowed', 'not a registry API path');
  const kind = access(method, route);
  if (kind === 'bad') return refuse('request_not_allowed', `${method} is not a method of this ${route.kind} route`);
  if (kind === 'write' && rules.pullOnly) {
    const what =
      route.kind === 'upload'
        ? route.mountFrom !== null
          ? 'a cross-repository mount'
          : 'a blob upload'
        : `${method} of a ${route.kind}`;
    return refuse('push_not_allowed', `${what}: registry ${rules.registry} is pullOnly`);
  }
  const allowed = rules.repositories;
  if (allowed === null) return ALLOWED;
  if (route.kind === 'catalog')
    return refuse('repository_not_allowed', 'the catalog lists every repository; refused while repositories is set');
  if ('repository' in route && !allowed.test(route.repository))
    return refuse(
      'repository_not_allowed',
      `repository "${route.repository}" is not in the repositories of ${rules.registry}`,
    );
  if (route.kind === 'upload' && route.mountFrom !== null && !allowed.test(route.mountFrom))
    return refuse(
      'repository_not_allowed',
      `mount from "${route.mountFrom}" is not in the repositories of ${rules.registry}`,
    );
  return ALLOWED;
}
