/**
 * A module resolve hook that lets ES modules import packages from NODE_PATH, as Lambda's
 * Node.js runtimes do for layers (/opt/nodejs/node_modules): Node itself honours NODE_PATH
 * for require() only. `aft lambda-local` registers it in each function process
 * (register-node-path.ts), so a handler imports `aft-shim/lambda` from the layer either way.
 */
import { basename, delimiter, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface ResolveContext {
  readonly parentURL?: string | undefined;
  readonly conditions: readonly string[];
  readonly importAttributes: Record<string, string>;
}
interface ResolveResult {
  readonly url: string;
  readonly format?: string | null | undefined;
  readonly shortCircuit?: boolean | undefined;
}
type NextResolve = (specifier: string, context?: Partial<ResolveContext>) => Promise<ResolveResult>;

const BARE = /^(?![./]|[a-z][a-z0-9+.-]*:)/i;

export async function resolve(
  specifier: string,
  context: ResolveContext,
  nextResolve: NextResolve,
): Promise<ResolveResult> {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (!BARE.test(specifier) || (error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    for (const directory of (process.env.NODE_PATH ?? '').split(delimiter)) {
      // A NODE_PATH entry is a node_modules folder: resolve as if from a file beside it.
      if (basename(directory) !== 'node_modules') continue;
      try {
        const parentURL = pathToFileURL(join(dirname(directory), 'layer.js')).href;
        return await nextResolve(specifier, { ...context, parentURL });
      } catch {
        // Not in this entry; try the next.
      }
    }
    throw error;
  }
}
