// Per-node times of an ONNX model in ONNX Runtime (onnxruntime-node, CPU), to set beside
// `bonsai bench -layers`: runs the model REPS times with ORT's profiler on and prints each
// node's mean time in ms (in graph order), then the mean of the run events.
// usage: NODE_PATH=~/.cache/bonsai-ort/node_modules node ort_profile.js THREADS FILE_bB.onnx [REPS]
// (the batch size is read from the name; the image size is 224 for torchvision names, else
// 32, unless SIZE=S is set, as ../shared/bench/ort_bench.js does).
const ort = require('onnxruntime-node');
const fs = require('fs');
const os = require('os');
const path = require('path');

async function main() {
  const threads = parseInt(process.argv[2], 10);
  const f = process.argv[3];
  const reps = parseInt(process.argv[4] || '200', 10);
  const prefix = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ortprof-')), 'p');
  const s = await ort.InferenceSession.create(f, {
    intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
    executionMode: 'sequential', enableProfiling: true, profileFilePrefix: prefix });
  const b = parseInt(f.match(/_b(\d+)\.onnx$/)[1], 10);
  const size = process.env.SIZE ? parseInt(process.env.SIZE, 10) :
    /(^|\/)(resnet(18|34|50|101|152)|mobilenet_v2)_b/.test(f) ? 224 : 32;
  const x = new ort.Tensor('float32', new Float32Array(b * 3 * size * size).fill(0.5), [b, 3, size, size]);
  const feeds = { [s.inputNames[0]]: x };
  for (let i = 0; i < 10; i++) await s.run(feeds); // warm-up (profiled too: skipped below)
  for (let i = 0; i < reps; i++) await s.run(feeds);
  let file = s.endProfiling(); // the file's name, in some versions; else the one file in the directory
  if (typeof file !== 'string' || !fs.existsSync(file)) {
    const dir = path.dirname(prefix);
    file = path.join(dir, fs.readdirSync(dir).find(n => n.endsWith('.json')));
  }
  const events = JSON.parse(fs.readFileSync(file, 'utf8'));
  const nodes = new Map();
  const runs = [];
  for (const e of events) {
    if (e.cat === 'Session' && e.name === 'model_run') runs.push(e.dur);
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const name = e.name.slice(0, -'_kernel_time'.length);
    if (!nodes.has(name)) nodes.set(name, { op: e.args.op_name, durs: [] });
    nodes.get(name).durs.push(e.dur);
  }
  const mean = a => a.reduce((p, c) => p + c, 0) / a.length;
  let total = 0;
  for (const [name, n] of nodes) {
    const d = n.durs.slice(-reps); // the timed runs only
    total += mean(d);
    console.log(`${name.padEnd(60)} ${n.op.padEnd(14)} ${(mean(d) / 1000).toFixed(3)}`);
  }
  console.log(`${'sum of nodes'.padEnd(75)} ${(total / 1000).toFixed(3)}`);
  console.log(`${'model_run (mean)'.padEnd(75)} ${(mean(runs.slice(-reps)) / 1000).toFixed(3)}`);
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
}
main().catch(e => { console.error(e); process.exit(1); });
