// Times an ONNX model on ONNX Runtime's CPU provider with one intra-op thread: the baseline the encoder
// benchmark compares against. Usage: node time_model.js model.onnx [iterations] -> one JSON line.
'use strict';
const ort = require('onnxruntime-node');

async function main() {
  const [model, iterArg] = process.argv.slice(2);
  if (!model) {
    console.error('usage: node time_model.js model.onnx [iterations]');
    process.exit(2);
  }
  const iterations = Number(iterArg || 100);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const name = session.inputNames[0];
  const dims = [1, 3, 384, 384];
  const data = new Float32Array(dims.reduce((a, b) => a * b));
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.001);
  const feeds = { [name]: new ort.Tensor('float32', data, dims) };
  for (let i = 0; i < 10; i++) await session.run(feeds);  // warm-up
  const times = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(JSON.stringify({ runtime: 'onnxruntime', version: ort.env.versions.common, model, median_ms: median,
                               min_ms: times[0], iterations }));
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
