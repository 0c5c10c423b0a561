/**
 * The architecture's rules (docs/architecture.md), read from the sources: folders import one
 * way with no loops, the Lambda layer imports only the wire module, the wire module imports
 * nothing of aft, and the core calls no HTTP.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { ROOT } from './helpers/processes.js';

const FOLDERS = ['wire', 'shim', 'server', 'adapters', 'gc', 'lambda-layer', 'lambda-local', 'infra', 'bin'];
const IMPORT = /(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g;

function sourcesOf(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => join(ROOT, folder, file));
}

/** Folder -> the folders its files import, with one importing file each. */
function folderGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const folder of FOLDERS) {
    const edges = new Map<string, string>();
    for (const file of sourcesOf(folder)) {
      for (const match of readFileSync(file, 'utf8').matchAll(IMPORT)) {
        const target = relative(ROOT, join(dirname(file), match[1]!)).split('/')[0]!;
        if (target !== folder) edges.set(target, relative(ROOT, file));
      }
    }
    graph.set(folder, edges);
  }
  return graph;
}

describe('architecture', () => {
  const graph = folderGraph();

  it('has no folder loops', () => {
    const loops: string[] = [];
    for (const start of FOLDERS) {
      const seen = new Set<string>();
      const stack = [...(graph.get(start)?.keys() ?? [])];
      while (stack.length > 0) {
        const next = stack.pop()!;
        if (next === start) loops.push(start);
        if (seen.has(next)) continue;
        seen.add(next);
        stack.push(...(graph.get(next)?.keys() ?? []));
      }
    }
    expect(loops).toEqual([]);
  });

  it('the Lambda layer imports only the wire module, and the wire module nothing of aft', () => {
    expect([...(graph.get('lambda-layer')?.keys() ?? [])]).toEqual(['wire']);
    expect([...(graph.get('wire')?.keys() ?? [])]).toEqual([]);
  });

  it('the core calls no HTTP and imports no process wiring', () => {
    const calling = sourcesOf('shim').filter((file) => /\bfetch\(/.test(readFileSync(file, 'utf8')));
    expect(calling.map((file) => relative(ROOT, file))).toEqual([]);
    expect([...(graph.get('shim')?.keys() ?? [])].sort()).toEqual(['adapters', 'wire']);
  });
});
