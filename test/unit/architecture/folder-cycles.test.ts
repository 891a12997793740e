// Imports run downward: no cycle between the folders of src/ (a file at the top of src/ counts as a
// folder of its own). Each import, type-only ones included, is an edge from its folder to the target's.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));
const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** `admin` for src/admin/app.ts, `gateway.ts` for src/gateway.ts. */
function folderOf(file: string): string {
  return relative(SRC, file).split('/')[0] as string;
}

/** folder -> folders it imports from, each with one file that does it (for the message). */
function folderGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of sources(SRC)) {
    const from = folderOf(file);
    const edges = graph.get(from) ?? new Map<string, string>();
    graph.set(from, edges);
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = resolve(dirname(file), (m[1] ?? m[2]) as string);
      if (relative(SRC, target).startsWith('..')) continue;
      const to = folderOf(target.replace(/\.js$/, '.ts'));
      if (to !== from && !edges.has(to)) edges.set(to, relative(SRC, file));
    }
  }
  return graph;
}

/** Every cycle as `a -> b -> a` with the importing file of each step (one per strongly connected group). */
function folderCycles(graph: Map<string, Map<string, string>>): string[] {
  const cycles: string[] = [];
  const done = new Set<string>();
  for (const start of [...graph.keys()].sort()) {
    // Breadth-first from start's neighbours back to start: the shortest cycle through it.
    const back = new Map<string, string>();
    const queue = [...(graph.get(start)?.keys() ?? [])];
    for (const q of queue) back.set(q, start);
    while (queue.length > 0) {
      const node = queue.shift() as string;
      if (node === start) break;
      for (const next of graph.get(node)?.keys() ?? []) {
        if (back.has(next)) continue;
        back.set(next, node);
        queue.push(next);
      }
    }
    if (!back.has(start)) continue;
    const path = [start];
    for (let n = back.get(start) as string; n !== start; n = back.get(n) as string) path.unshift(n);
    path.unshift(start);
    const key = [...new Set(path)].sort().join(',');
    if (done.has(key)) continue;
    done.add(key);
    cycles.push(path.map((p, i) => (i === 0 ? p : `-> ${p} (${graph.get(path[i - 1] as string)?.get(p)})`)).join(' '));
  }
  return cycles;
}

describe('folders of src/', () => {
  it('import one another without a cycle', () => {
    expect(folderCycles(folderGraph())).toEqual([]);
  });

  it('the check finds a cycle when there is one', () => {
    const graph = new Map([
      ['a', new Map([['b', 'a/x.ts']])],
      ['b', new Map([['c', 'b/y.ts']])],
      ['c', new Map([['a', 'c/z.ts']])],
    ]);
    expect(folderCycles(graph)).toEqual(['a -> b (a/x.ts) -> c (b/y.ts) -> a (c/z.ts)']);
  });
});
