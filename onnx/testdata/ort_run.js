// Runs an ONNX model in ONNX Runtime (onnxruntime-node, CPU) for package onnx's tests.
// usage: node ort_run.js MODEL.onnx INPUT.f32 N,C,H,W OUTPUT.f32
// INPUT.f32 and OUTPUT.f32 are raw little-endian float32; the model's first input is fed,
// its first output written. NODE_PATH must hold onnxruntime-node.
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, input, shape, output] = process.argv.slice(2);
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const b = fs.readFileSync(input);
  const x = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  const dims = shape.split(',').map(Number);
  const res = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x, dims) });
  const y = res[s.outputNames[0]];
  fs.writeFileSync(output, Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
  console.log(JSON.stringify({ dims: y.dims, runtime: 'onnxruntime ' + ort.env.versions.common }));
}
main().catch(e => { console.error(e); process.exit(1); });
