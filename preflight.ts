/* What `kiln run` needs from the host, checked up front so a missing piece is one clear line. */
import { existsSync, readFileSync } from 'node:fs';

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

export interface PreflightOptions {
  btfPath?: string;
  procStatus?: string;
}

/** The effective capability set of this process, from /proc/self/status. */
export function effectiveCaps(statusText: string): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(statusText);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

/** Returns null when the host can run the collectors, else one line saying what is missing and how to fix it. */
export function preflight(opts: PreflightOptions = {}): string | null {
  const caps = effectiveCaps(opts.procStatus ?? readFileSync('/proc/self/status', 'utf8'));
  const has = (c: bigint) => (caps & (1n << c)) !== 0n;
  const bpfOk = has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON));
  if (!bpfOk) {
    return 'kiln: needs root (or CAP_BPF + CAP_PERFMON + CAP_SYS_PTRACE) to load eBPF programs: run it as root, e.g. `sudo npm start`';
  }
  const btf = opts.btfPath ?? process.env.KILN_BTF_PATH ?? '/sys/kernel/btf/vmlinux';
  if (!existsSync(btf)) {
    return `kiln: kernel BTF not found at ${btf}: needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (Linux 5.8+; most distributions ship it)`;
  }
  return null;
}
