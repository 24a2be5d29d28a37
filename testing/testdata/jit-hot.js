// Run with node --perf-basic-prof: V8 writes /tmp/perf-PID.map naming its JIT code.
// Usage: node --perf-basic-prof jit-hot.js SECONDS
function kilnJitHot(n) {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x + i * 7) % 1000003;
  return x;
}
const end = Date.now() + Number(process.argv[2] ?? 5) * 1000;
let sink = 0;
while (Date.now() < end) sink += kilnJitHot(200000);
if (sink === -1) console.log(sink);
