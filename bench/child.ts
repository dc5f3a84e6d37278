/**
 * How to start a bench child script with the same loader as this process: the compiled suite
 * (`npm run bench` runs .bench/, what tsc emits, as the product ships) starts the compiled child;
 * run from the TypeScript sources through tsx, it starts the source.
 */
import { fileURLToPath } from 'node:url';

/** node arguments that run bench/<name>. */
export function childScript(name: string): string[] {
  const compiled = import.meta.url.endsWith('.js');
  const file = fileURLToPath(new URL(`./${name}.${compiled ? 'js' : 'ts'}`, import.meta.url));
  return compiled ? [file] : ['--import', 'tsx', file];
}
