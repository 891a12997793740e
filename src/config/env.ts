// `${VAR}` and `${VAR:-default}` substitution in config string values, done after parsing so that an
// environment value can never change the structure of the file.

export interface EnvSubstitution {
  value: unknown;
  /** Paths (`admin.token`) whose whole value named an unset variable without a default. */
  unset: Map<string, string>;
}

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

export function substituteEnv(input: unknown, env: NodeJS.ProcessEnv): EnvSubstitution {
  const unset = new Map<string, string>();
  const walk = (node: unknown, path: string): unknown => {
    if (typeof node === 'string') {
      const whole = WHOLE.exec(node);
      if (whole) {
        const name = whole[1] as string;
        const v = env[name];
        if (v === undefined || v === '') {
          unset.set(path, name);
          return null;
        }
        return v;
      }
      return node.replace(VAR, (_m, name: string, fallback: string | undefined) => {
        const v = env[name];
        if (v !== undefined && v !== '') return v;
        if (fallback !== undefined) return fallback;
        unset.set(path, name);
        return '';
      });
    }
    if (Array.isArray(node)) return node.map((item, i) => walk(item, `${path}[${i}]`));
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) out[k] = walk(v, path === '' ? k : `${path}.${k}`);
      return out;
    }
    return node;
  };
  return { value: walk(input, ''), unset };
}
