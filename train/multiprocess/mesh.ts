// The mesh of a run over several processes: every process's devices (PJRT's global devices), each process a
// contiguous block of mesh positions, so a block of the `data` axis (as the official trainer's t5x mesh puts each
// host on its own rows of the batch). A pure function of the global device list: which PJRT device id each position
// runs on (the compile's device assignment), which positions this process drives, and the client device index of
// each of those (what its buffers and the executable's argument lists use).
import { FlipError } from '../../compiler/ir/errors.ts';
import { mesh as makeMesh, showMesh, type Mesh } from '../../compiler/passes/index.ts';

export class GlobalMeshError extends FlipError {
  override name = 'GlobalMeshError';
}

/** What the layout needs of a device (runtime-native's Device has these). */
export interface GlobalDeviceInfo {
  /** PJRT's global device id. */
  id: number;
  processIndex?: number;
  addressable: boolean;
  /** Its place in this process's `client.devices` (-1 for another process's device). */
  index: number;
}

export interface GlobalMeshLayout {
  /**
   * The mesh. `devices[p]` is the client device index of position p when this process drives it; another process's
   * positions get indices from `client.devices.length` up (distinct, never one of this process's devices), so a
   * buffer is never taken for one of theirs.
   */
  mesh: Mesh;
  /** Position → PJRT global device id (the compile options' device assignment). */
  deviceIds: number[];
  /** Position → whether this process drives it. */
  addressable: boolean[];
  /** Position → the process that drives it. */
  processOf: number[];
  /** This process's positions: [processIndex·size/N, (processIndex+1)·size/N). */
  positions: number[];
}

/**
 * The mesh `sizes` (axes major to minor, `data` first) over the global devices of `processCount` processes, this
 * process being `processIndex`. Each process gets the contiguous block of positions [i·D/N, (i+1)·D/N) and puts its
 * own devices there in the order of its client's devices; the mesh must use every device, every process must have
 * the same number, and the `data` axis must split evenly across the processes (then each block is whole `data` rows).
 */
export function globalMeshLayout(devices: readonly GlobalDeviceInfo[], sizes: Readonly<Record<string, number>>, processIndex: number, processCount: number): GlobalMeshLayout {
  if (!Number.isInteger(processCount) || processCount < 1 || !Number.isInteger(processIndex) || processIndex < 0 || processIndex >= processCount) {
    throw new GlobalMeshError(`process ${processIndex} of ${processCount}: not a process of the run`);
  }
  const shape = makeMesh(sizes);
  const axes = shape.axes;
  if (axes[0] !== 'data') throw new GlobalMeshError(`mesh ${showMesh(shape)}: over several processes the first (major) axis must be 'data', so that each process holds whole rows of the batch`);
  const data = shape.shape[0]!;
  if (data % processCount) throw new GlobalMeshError(`mesh ${showMesh(shape)}: data=${data} does not split evenly across ${processCount} processes (each process holds a contiguous block of the data axis)`);
  const byProcess: GlobalDeviceInfo[][] = Array.from({ length: processCount }, () => []);
  for (const d of devices) {
    const p = d.processIndex ?? 0;
    if (!Number.isInteger(p) || p < 0 || p >= processCount) throw new GlobalMeshError(`device ${d.id} belongs to process ${p}, but the run has ${processCount} processes`);
    byProcess[p]!.push(d);
  }
  const per = byProcess[0]!.length;
  const uneven = byProcess.findIndex((l) => l.length !== per);
  if (uneven >= 0) throw new GlobalMeshError(`process ${uneven} has ${byProcess[uneven]!.length} devices, process 0 has ${per}: every process must drive the same number of devices`);
  if (per * processCount !== shape.size) {
    throw new GlobalMeshError(`mesh ${showMesh(shape)} has ${shape.size} positions, the ${processCount} processes have ${per * processCount} devices (${per} each): the mesh must use every device`);
  }
  const mine = byProcess[processIndex]!;
  if (mine.some((d) => !d.addressable || d.index < 0)) throw new GlobalMeshError(`process ${processIndex}'s devices are not all addressable here: the global device list is another process's view`);
  if (byProcess.some((l, p) => p !== processIndex && l.some((d) => d.addressable))) throw new GlobalMeshError(`another process's device is addressable by process ${processIndex}`);
  const local = mine.map((d) => d.index).sort((a, b) => a - b);
  const localCount = Math.max(-1, ...local) + 1;
  const order = (l: GlobalDeviceInfo[]) => [...l].sort((a, b) => (a.addressable ? a.index - b.index : a.id - b.id));
  const deviceIds: number[] = [];
  const addressable: boolean[] = [];
  const processOf: number[] = [];
  const meshDevices: number[] = [];
  let foreign = localCount;
  byProcess.forEach((l, p) => {
    for (const d of order(l)) {
      deviceIds.push(d.id);
      addressable.push(p === processIndex);
      processOf.push(p);
      meshDevices.push(p === processIndex ? d.index : foreign++);
    }
  });
  if (new Set(deviceIds).size !== deviceIds.length) throw new GlobalMeshError(`the global devices' ids are not distinct (${deviceIds.join(', ')})`);
  return {
    mesh: makeMesh(sizes, { devices: meshDevices }),
    deviceIds, addressable, processOf,
    positions: Array.from({ length: per }, (_, k) => processIndex * per + k),
  };
}
