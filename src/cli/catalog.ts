/**
 * The table of `compactd`'s commands as the top level needs it: name, one-line summary and
 * subcommands, in the order `compactd --help` lists them. It imports nothing, so `--help`,
 * `--version` and an unknown command's did-you-mean answer without loading any command; each
 * command's module takes its name and summary from here, and is loaded only when it runs (main.ts).
 */

/** What the top level knows of a command without loading it. */
export interface CommandInfo {
  readonly name: string;
  readonly summary: string;
  /** Words that may follow the name (`config get`); usage errors name the one given. */
  readonly subcommands?: readonly string[];
}

/** Every command, in the order `compactd --help` lists them. */
export const CATALOG = [
  { name: 'serve', summary: 'Run the compaction service (gRPC, health, reflection, /metrics) until SIGTERM or SIGINT.' },
  { name: 'compact', summary: 'Compact a CompactRequest (JSON on stdin) through the service or in-process; print the response.' },
  { name: 'request', summary: 'Build a CompactRequest JSON from batch files (HollowBatch JSON as write-batch prints them).' },
  { name: 'write-batch', summary: 'Write updates (NDJSON on stdin) as a batch of parts and print its HollowBatch JSON.' },
  { name: 'read-batch', summary: 'Read a batch (HollowBatch or CompactResponse JSON on stdin) and print its consolidated updates as NDJSON.' },
  { name: 'demo', summary: 'Write sample batches, compact them through a running service, verify and summarize.' },
  { name: 'health', summary: 'Check a running service through the gRPC health service; exit 0 when SERVING.' },
  { name: 'config', summary: "Read (get) or change (set) a running service's live configuration.", subcommands: ['get', 'set'] },
  { name: 'delete-parts', summary: 'Delete parts the service wrote and the writer did not apply (Compactor.DeleteParts).' },
  { name: 'orphans', summary: 'List (or --delete) service-written parts of a shard that no live batch references.' },
  { name: 'loadgen', summary: 'Drive a running service with simulated writers; verify every shard; print a summary.' },
  { name: 'jobs', summary: 'List the queued, running and recent compactions of a service, with progress bars.' },
  { name: 'cancel', summary: 'Cancel a queued or running compaction by id; everything it wrote is deleted.' },
] as const satisfies readonly CommandInfo[];

export type CommandName = (typeof CATALOG)[number]['name'];

/** The catalog entry of `name` (a command module's name, summary and subcommands). */
export function commandInfo(name: CommandName): CommandInfo {
  return CATALOG.find((c) => c.name === name)!;
}
