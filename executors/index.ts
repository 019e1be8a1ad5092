/**
 * Executors: what runs a task's analysis inside the TRE. The leaf agent drives every executor through
 * the one `Executor` contract and steers by the sentinel errors; the query executor runs declarative
 * analyses on DuckDB or PostgreSQL. Synthetic patient data for tests and the demo lives here too.
 */
export {
  AnalysisRefused,
  ExecutorCancelled,
  type ExecutorError,
  ExecutorErrorCode,
  ExecutorFailed,
  ExecutorTimeout,
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
export { type CompiledQuery, compile, type QuerySpec, validateQuerySpec } from "./query/compile.js";
export {
  type ColumnType,
  type CsvDataset,
  columnTypes,
  type DatasetDefinition,
  type DatasetEngine,
  type DuckDbDataset,
  datasetDefinition,
  datasetDefinitions,
  isIdentifierColumn,
  type ParquetDataset,
  type PostgresDataset,
} from "./query/dataset.js";
export type { DuckDbEngineOptions } from "./query/duckdb-engine.js";
export { QueryExecutor, type QueryExecutorOptions } from "./query/query-executor.js";
export { RunGuard, type StopReason } from "./run-guard.js";
export {
  generatePatients,
  mulberry32,
  type PatientProfile,
  type PatientRow,
  patientProfiles,
  SYNTHETIC_PATIENT_COLUMNS,
  SYNTHETIC_PATIENT_IDENTIFIERS,
} from "./synthetic-patients.js";
export {
  writePatientsCsv,
  writePatientsDuckDb,
  writePatientsParquet,
  writePatientsPostgres,
} from "./synthetic-patients-writers.js";
