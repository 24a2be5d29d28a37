/* Stored stacks → a pprof profile (profile.proto) that `go tool pprof` reads.
 * Sample types samples/count and cpu/nanoseconds, period cpu/nanoseconds = 1e9/Hz.
 * Addresses are each binary's link-time addresses; each mapping is placed at its own base
 * (mapping i at i<<40) so mappings never overlap, keeping address - start + offset = file offset. */
import { gzipSync } from 'node:zlib';
import { Function as PFunction, Label, Line, Location, Mapping, Profile, Sample, StringTable, ValueType } from 'pprof-format';
import type { MappingRow, PprofStackRow } from '../store/tables/profiles.js';
import { microDollars, type CpuPrice } from './cpu-cost.js';

export interface PprofInput {
  stacks: PprofStackRow[];
  mappings: MappingRow[];
  /** unix seconds */
  from: number;
  to: number;
  periodNs: number;
  comment?: string[];
  /** with a CPU price, a third sample type: cost in integer micro-dollars (`-sample_index=cost`) */
  price?: CpuPrice | null;
  /** other sample types than CPU (egress stacks: bytes, cost): each stack's values, in this order */
  values?: { types: [type: string, unit: string][]; of: (s: PprofStackRow) => number[]; default: string };
}

const BASE_SHIFT = 40n;

export function buildPprof(input: PprofInput): Profile {
  const st = new StringTable();
  const mappingIndex = new Map<string, { id: number; base: bigint; row: MappingRow }>();
  const mappings: Mapping[] = [];
  const sorted = [...input.mappings].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  for (const row of sorted) {
    const id = mappings.length + 1;
    const kernel = row.file === '[kernel.kallsyms]' || BigInt(row.memory_start) >= 1n << 63n;
    // kernel and JIT code keep their runtime addresses (already disjoint from everything else)
    const base = kernel || row.file === '[jit]' || row.file.startsWith('[') ? 0n : BigInt(id) << BASE_SHIFT;
    mappingIndex.set(row.mapping_id, { id, base, row });
    mappings.push(
      new Mapping({
        id,
        memoryStart: base + BigInt(row.memory_start),
        memoryLimit: base + BigInt(row.memory_limit),
        fileOffset: BigInt(row.file_offset),
        filename: st.dedup(row.file),
        buildId: st.dedup(row.build_id),
        hasFunctions: true,
      }),
    );
  }

  const functions: PFunction[] = [];
  const functionIds = new Map<string, number>();
  const locations: Location[] = [];
  const locationIds = new Map<string, number>();
  const fnId = (name: string): number => {
    let id = functionIds.get(name);
    if (id === undefined) {
      id = functions.length + 1;
      functionIds.set(name, id);
      const n = st.dedup(name);
      functions.push(new PFunction({ id, name: n, systemName: n }));
    }
    return id;
  };
  const locId = (name: string, address: string, mappingId: string): number => {
    const key = `${mappingId}\u0001${address}\u0001${name}`;
    let id = locationIds.get(key);
    if (id === undefined) {
      id = locations.length + 1;
      locationIds.set(key, id);
      const m = mappingIndex.get(mappingId);
      locations.push(
        new Location({
          id,
          mappingId: m ? m.id : 0,
          address: (m ? m.base : 0n) + BigInt(address),
          line: [new Line({ functionId: fnId(name) })],
        }),
      );
    }
    return id;
  };

  const samples: Sample[] = [];
  for (const s of input.stacks) {
    const ids: number[] = [];
    // pprof wants leaf first; stored stacks are root first
    for (let i = s.functions.length - 1; i >= 0; i--) ids.push(locId(s.functions[i], s.addresses[i], s.mapping_ids[i]));
    // the process as sample labels: `go tool pprof -tagfocus pid=4101` or `-tags` (an empty label is left out)
    const label: Label[] = [];
    if (s.pid) label.push(new Label({ key: st.dedup('pid'), num: s.pid }));
    for (const [k, v] of [
      ['cmdline', s.cmdline],
      ['host', s.host],
      ['container_id', s.container_id],
    ] as const) {
      if (v) label.push(new Label({ key: st.dedup(k), str: st.dedup(v) }));
    }
    const value = input.values ? input.values.of(s) : input.price ? [s.samples, s.cpu_ns, microDollars(s.cpu_ns, input.price)] : [s.samples, s.cpu_ns];
    samples.push(new Sample({ locationId: ids, value, label }));
  }

  return new Profile({
    sampleType: input.values
      ? input.values.types.map(([type, unit]) => new ValueType({ type: st.dedup(type), unit: st.dedup(unit) }))
      : [
          new ValueType({ type: st.dedup('samples'), unit: st.dedup('count') }),
          new ValueType({ type: st.dedup('cpu'), unit: st.dedup('nanoseconds') }),
          ...(input.price ? [new ValueType({ type: st.dedup('cost'), unit: st.dedup('microdollars') })] : []),
        ],
    periodType: input.values ? new ValueType({ type: st.dedup(input.values.types[0][0]), unit: st.dedup(input.values.types[0][1]) }) : new ValueType({ type: st.dedup('cpu'), unit: st.dedup('nanoseconds') }),
    period: input.periodNs,
    sample: samples,
    mapping: mappings,
    location: locations,
    function: functions,
    stringTable: st,
    timeNanos: BigInt(input.from) * 1_000_000_000n,
    durationNanos: BigInt(input.to - input.from) * 1_000_000_000n,
    comment: (input.comment ?? []).map((c) => st.dedup(c)),
    defaultSampleType: st.dedup(input.values?.default ?? 'cpu'),
  });
}

export function encodePprofGzip(p: Profile): Buffer {
  return gzipSync(p.encode());
}
