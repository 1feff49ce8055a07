// The trainer's side of a run over several processes (issue 13): the process group it talks to, each process's share
// of the data, who writes the run's shared outputs, checkpoints written per process with one index, and the check that
// every process compiled the same program. See docs/distributed.md, "Trainer with several processes".
export { ProcessGroupError, checkGroup, singleProcess, type ProcessGroup } from './group.ts';
export { DataShareError, processDataPlan, processShardShare, type ProcessDataOptions, type ProcessDataPlan, type ShardShare } from './data.ts';
export { NO_METRICS, metricsFor, outputFor, writerRole, type MetricsSink, type OutputOptions, type WriterRole } from './writer.ts';
export {
  INDEX_FILE, INDEX_FORMAT, ProcessCheckpointError, checkpointFolder, findProcessCheckpoint, latestProcessCheckpoint, listProcessCheckpoints, pieceFile,
  processHolding, processPositions, pruneProcessCheckpoints, readBlock, readCheckpointIndex, restoreProcessBlocks, saveProcessCheckpoint,
  writeCheckpointIndex, writeProcessPieces,
  type ArrayLayout, type Box, type CheckpointIndex, type HeldBox, type IndexPiece, type Piece, type ProcessHolding, type SaveOptions,
} from './checkpoint.ts';
export { ProgramMismatchError, checkSameProgram, fingerprintKey, fingerprintMismatch, programFingerprint, shortHash } from './fingerprint.ts';
export { GlobalMeshError, globalMeshLayout, type GlobalDeviceInfo, type GlobalMeshLayout } from './mesh.ts';
export { storeGroup } from './group.ts';
export {
  PROCESS_WAIT_MS, runProcesses, saveStatePieces, trainShare, writerFirst,
  type ProcessSave, type RunProcesses,
} from './trainer.ts';
