/**
 * Executors: what runs a task's analysis inside the TRE. The leaf agent drives every executor through
 * the one `Executor` contract and steers by the sentinel errors; the query executor runs declarative
 * analyses on DuckDB or PostgreSQL.
 */

export {
  ContainerExecutor,
  type ContainerExecutorOptions,
  type ContainerExit,
  type ContainerLimits,
  DEFAULT_CONTAINER_LIMITS,
} from "./container/container-executor.js";
export { OutputRefused } from "./container/container-outputs.js";
export { type ContainerEngineCheck, checkContainerEngine } from "./container/engine-check.js";
export {
  AnalysisRefused,
  ExecutorCancelled,
  type ExecutorError,
  ExecutorErrorCode,
  ExecutorFailed,
  ExecutorTimeout,
  ImageNotPresent,
  isExecutorError,
} from "./errors.js";
export {
  type DisclosureFacts,
  DOMINANCE_TOP_VALUES,
  type DominanceFact,
  type Executor,
  type ExecutorCredential,
  type ExecutorOutput,
  type ExecutorTask,
  type PostgresCredential,
  type ReadOnlyFileCredential,
  type RunOptions,
} from "./executor.js";
export { type CompiledQuery, compile, type QuerySpec } from "./query/compile.js";
export {
  type ColumnType,
  type CsvDataset,
  type DatasetDefinition,
  type DatasetEngine,
  type DuckDbDataset,
  datasetDefinitions,
  type ParquetDataset,
  type PostgresDataset,
} from "./query/dataset.js";
export { type DatasetTableProblem, fileDatasetProblems } from "./query/dataset-table-check.js";
export type { DuckDbEngineOptions } from "./query/duckdb-engine.js";
export { DUCKDB_KEEP_OPEN_MS } from "./query/duckdb-instances.js";
export { isTransientDatabaseCode } from "./query/engine-errors.js";
export { QueryExecutor, type QueryExecutorOptions } from "./query/query-executor.js";
