/**
 * The settings of a running service that the Admin API reads and changes (the ServiceConfig
 * message): one shape for the options parser, the service and the wire conversion.
 */
export interface ServiceConfig {
  /** Process compactions, or answer UNAVAILABLE "compaction disabled". */
  readonly enabled: boolean;
  readonly queueSize: number;
  readonly concurrencyLimit: number;
  readonly heuristicMinInputs: number;
  readonly heuristicMinParts: number;
  readonly heuristicMinUpdates: number;
  readonly minimumTimeoutSeconds: number;
  readonly memoryBoundBytes: number;
  readonly targetPartBytes: number;
  /** Stop a compaction that reads and writes no part for this long (DEADLINE_EXCEEDED); 0: never. */
  readonly stallTimeoutSeconds: number;
}
